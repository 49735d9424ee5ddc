# The single entry point. `make demo` and `make test` work on a fresh Debian 12 machine as root.
.PHONY: setup demo test bench tds-server

setup:
	bash scripts/setup.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

# make bench [ROWS=100000] [TABLE=votes,posts] [REPEAT=3]
bench:
	bash scripts/bench.sh

tds-server:
	cargo run --release -p pgmig-tds-server -- --help
