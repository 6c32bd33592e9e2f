from envlens.cli import main

raise SystemExit(main())
