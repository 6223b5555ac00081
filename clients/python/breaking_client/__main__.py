from breaking_client.cli import main

raise SystemExit(main())
