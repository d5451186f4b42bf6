from paxx_patch.main import main

raise SystemExit(main())
