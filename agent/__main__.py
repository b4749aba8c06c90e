from agent._cli import main

raise SystemExit(main())
