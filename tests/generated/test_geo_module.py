"""The generated services/geo.py against a real PostgreSQL with PostGIS (Debian's
postgresql-15-postgis-3): distances checked against geographiclib's geodesics, the
distance and bounding-box filters, and the column's spatial index."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import PostgresServer
from generated_projects import RenderComponent
from geographiclib.geodesic import Geodesic
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# longitude, latitude
CITIES = {
    "paris": (2.3522, 48.8566),
    "london": (-0.1278, 51.5074),
    "berlin": (13.4050, 52.5200),
    "madrid": (-3.7038, 40.4168),
    "sydney": (151.2093, -33.8688),
}


def geodesic_metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    metres: float = Geodesic.WGS84.Inverse(a[1], a[0], b[1], b[0])["s12"]
    return metres


def test_distances_and_filters_on_postgis(render_component: RenderComponent, postgres_server: PostgresServer) -> None:
    geo = render_component(["postgres", "postgis"], {
        "DATABASE_URL": postgres_server.url(), "DATABASE_PASSWORD": postgres_server.password,
    }).module("geo")

    class Base(DeclarativeBase):
        pass

    class City(Base):
        __tablename__ = "cities"
        name: Mapped[str] = mapped_column(primary_key=True)
        location: Mapped[Any] = mapped_column(geo.geography_point())

    async def scenario() -> dict[str, Any]:
        engine = create_async_engine(postgres_server.url(password=True))
        try:
            async with engine.begin() as connection:
                await geo.ensure_postgis(connection)
                await geo.ensure_postgis(connection)  # once is enough; twice is harmless
                await connection.run_sync(Base.metadata.drop_all)
                await connection.run_sync(Base.metadata.create_all)
                await connection.execute(City.__table__.insert(), [
                    {"name": name, "location": geo.point_value(*where)} for name, where in CITIES.items()
                ])
            async with engine.connect() as connection:

                async def names(*condition: Any) -> set[str]:
                    rows = await connection.execute(select(City.name).where(*condition))
                    return set(rows.scalars())

                paris = CITIES["paris"]
                distances = dict((await connection.execute(
                    select(City.name, geo.distance_metres(City.location, *paris))
                )).tuples().all())
                return {
                    "distances": distances,
                    "400km": await names(geo.within_distance(City.location, *paris, 400_000)),
                    "1000km": await names(geo.within_distance(City.location, *paris, 1_000_000)),
                    "box": await names(geo.in_bbox(City.location, -5, 40, 3, 52)),
                    "indexes": set((await connection.execute(text(
                        "select indexdef from pg_indexes where tablename = 'cities'"))).scalars()),
                }
        finally:
            await engine.dispose()

    found = asyncio.run(scenario())
    for name, where in CITIES.items():
        expected = geodesic_metres(CITIES["paris"], where)
        assert found["distances"][name] == pytest.approx(expected, rel=0.001, abs=0.01), name
    assert found["400km"] == {"paris", "london"}  # London is 344 km away
    assert found["1000km"] == {"paris", "london", "berlin"}  # Berlin 878 km, Madrid 1,053 km
    assert found["box"] == {"paris", "london", "madrid"}
    assert any("USING gist (location)" in index for index in found["indexes"]), found["indexes"]
    for wrong in (geo.point, geo.point_value):
        for where in ((48.8566, 200), (181, 0), (0, float("nan"))):
            with pytest.raises(ValueError, match="not a longitude, latitude pair"):
                wrong(*where)
