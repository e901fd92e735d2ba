"""Code that runs next to submitted code, inside the sandbox: standard library only, readable in
one sitting. `harness` is the one harness of `/v1/tests` and `/v1/azr`."""
