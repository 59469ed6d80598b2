from kdrama_tui.cli import main

raise SystemExit(main())
