# The commands the README gives. `make test` is what .ci/run calls.
CARGO ?= cargo

.PHONY: demo test bench

demo:
	$(CARGO) run --release --example prefork_demo -- 15 4

test:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test --release

bench:
	$(CARGO) bench --bench hot_path --bench sampling
