from analyticsd.cli import main

raise SystemExit(main())
