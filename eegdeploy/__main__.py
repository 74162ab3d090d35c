from eegdeploy.cli import main

raise SystemExit(main())
