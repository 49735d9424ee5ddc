# The single entry point. `make demo` and `make test` work on a fresh Debian 12 machine as root.
.PHONY: setup demo test tds-server

setup:
	bash scripts/setup.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

tds-server:
	cargo run --release -p pgmig-tds-server -- --help
