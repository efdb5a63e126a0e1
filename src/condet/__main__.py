from condet.cli import main

raise SystemExit(main())
