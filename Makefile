# The commands the README gives. `make test` is what .ci/run calls (with
# --trace, through .ci/timed.py, which times each target; a sub-make says
# when it enters and leaves, so no --no-print-directory on one).
SHELL := /bin/bash
CARGO ?= cargo
CC ?= cc
CXX ?= c++
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
BINDIR ?= $(PREFIX)/bin
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
SONAME := $(shell v=$(VERSION); maj=$${v%%.*}; rest=$${v#*.}; min=$${rest%%.*}; \
            if [ $$maj = 0 ]; then echo libworkerlife.so.0.$$min; else echo libworkerlife.so.$$maj; fi)
# C programs run against target/release through a directory holding the
# SONAME link, as an installed library would be found.
CDIR := $(CURDIR)/target/c
CFLAGS_STRICT := -std=c11 -Wall -Wextra -Werror -Iinclude
LINK := -L$(CURDIR)/target/release -lworkerlife -Wl,-rpath,$(CDIR)
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g

FUZZ_SECONDS ?= 60
# BENCH_QUICK=1 (what .ci/run uses): each benchmark one short round (one
# repetition of each measurement, wrk runs of 2 s), every ratio still
# against its baseline measured in the same run. Without it, the full
# rounds that docs/benchmarks.md quotes.
BENCH_QUICK ?=
export BENCH_QUICK
# The project-local virtualenv the Python package is installed into.
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
PYTHON3 ?= python3
DEMO_SECONDS ?= 20
# Python's end-to-end tests mostly wait on the servers they start: two at a
# time (pytest-xdist; each test owns its ports, files and processes). The
# hosts suite runs its hosts in parallel itself, once per session.
# PYTEST_PARALLEL= runs them one at a time.
PYTEST_PARALLEL ?= -n 2 --dist worksteal

# Tools the tests need, installed into the project when missing: cbindgen at
# the version the committed header was made with (a project-local `cargo
# install --root .tools`, unless that exact version is already on PATH).
# Built unoptimised (--debug): 23 s instead of 136 s on 2 cores, and it reads
# this small crate in a fifth of a second either way. (Debian's cbindgen,
# 0.24, cannot parse the crate.)
TOOLS := $(CURDIR)/.tools
CBINDGEN_VERSION := 0.29.2
CBINDGEN := $(shell if [ "$$(cbindgen --version 2>/dev/null)" = "cbindgen $(CBINDGEN_VERSION)" ]; \
              then command -v cbindgen; else echo $(TOOLS)/bin/cbindgen; fi)
# Debian packages, installed with apt-get when a command is missing (as root,
# or through sudo): a C and C++ compiler, pkg-config, nm, Python's venv.
APT_GET = if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq

.PHONY: dist dist-python dist-ruby dist-node dist-perl dist-c dist-test venv hosts-test ruby ruby-test ruby-bench node node-test node-bench cross-test cli wheel header demo demo-rust test deps rust-test c-test python python-test python-bench perl perl-test perl-bench header-check lib install bench fuzz

# gunicorn serving a leaking app under load, with and without workerlife.
demo: python
	$(PY) examples/python/demo.py --seconds $(DEMO_SECONDS)

# The Rust engine on its own: a forking server recycling its workers.
demo-rust:
	$(CARGO) run --release --example prefork_demo -- 15 4

test: deps rust-test c-test python-test perl-test ruby-test node-test cross-test hosts-test

# The Ruby gem (bindings/ruby): Ruby, the ffi gem and Puma from Debian
# (ruby, ruby-ffi, puma) when missing.
RUBY_DIR := bindings/ruby
ruby: lib
	@{ command -v ruby && command -v puma && ruby -e 'require "ffi"; require "minitest"; require "rack"'; } >/dev/null 2>&1 || { $(APT_GET) ruby ruby-ffi puma ruby-rack; }

# Its whole suite: the API, the shared vectors, a real Puma.
ruby-test: ruby
	cd $(RUBY_DIR)/test && ruby -w -I../lib -e 'Dir["test_*.rb"].sort.each { |f| require File.expand_path(f) }'

ruby-bench: ruby
	@command -v wrk >/dev/null || { $(APT_GET) wrk; }
	cd $(RUBY_DIR) && ruby -Ilib bench/bench.rb

# The Node package (bindings/node): node and npm from Debian when missing,
# koffi (pinned in package-lock.json) from npm into bindings/node/node_modules.
NODE_DIR := bindings/node
node: lib
	@{ command -v node && command -v npm; } >/dev/null || { $(APT_GET) nodejs npm; }
	cd $(NODE_DIR) && { [ -f node_modules/koffi/package.json ] || npm ci --no-audit --no-fund --loglevel=error; }

# Its whole suite: the API, the shared vectors, a real cluster.
node-test: node
	cd $(NODE_DIR) && node --test --test-concurrency=1 test/*.test.js

node-bench: node
	cd $(NODE_DIR) && node bench/bench.js

# Across languages: the Rust, C, Python and Perl pool tools
# (examples/pool_tool.*) make and use each other's pool files, and the
# worker-pool example (a Rust master, exec'd Python workers) end to end.
cross-test: lib python perl
	$(CARGO) build --release -q --example pool_tool --example worker_pool
	$(CC) $(CFLAGS_STRICT) examples/c/pool_tool.c $(LINK) -o $(CDIR)/pool_tool
	$(PY) -m mypy --strict tests/cross
	$(PY) -m pytest -q -rf -p no:cacheprovider tests/cross

# One conformance suite across every host (tests/hosts; docs/hosts.md holds
# its matrix): gunicorn (sync, gthread, UvicornWorker), uvicorn, Celery with
# its own redis-server, Starman, Starlet, Puma, Node's cluster, the C
# example and Unicorn (Debian's, when missing), each started by the suite.
# WORKERLIFE_HOSTS_WRITE=1 rewrites the matrix in docs/hosts.md from the run.
hosts-test: lib python perl ruby node
	@command -v redis-server >/dev/null || { $(APT_GET) redis-server; }
	@command -v unicorn >/dev/null || { $(APT_GET) unicorn; }
	$(CC) $(CFLAGS_STRICT) examples/c/prefork_server.c $(LINK) -o $(CDIR)/prefork_server
	$(PY) -m mypy --strict tests/hosts
	$(PY) -m pytest -q -rf -p no:cacheprovider tests/hosts

# What the tests need from Debian and cargo, installed when missing.
deps: $(CBINDGEN)
	@missing=(); \
	command -v cc >/dev/null || missing+=(gcc); \
	command -v c++ >/dev/null || missing+=(g++); \
	command -v pkg-config >/dev/null || missing+=(pkg-config); \
	command -v nm >/dev/null || missing+=(binutils); \
	$(PYTHON3) -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv); \
	if [ $${#missing[@]} -gt 0 ]; then $(APT_GET) "$${missing[@]}"; fi
	@if command -v rustup >/dev/null; then \
	  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy; \
	  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt; \
	fi

$(TOOLS)/bin/cbindgen:
	$(CARGO) install --quiet --locked --debug --root $(TOOLS) cbindgen --version $(CBINDGEN_VERSION)

# .venv with the test tools (bindings/python/requirements-dev.txt).
venv:
	@$(PYTHON3) -c 'import venv, ensurepip' 2>/dev/null || { $(APT_GET) python3-venv; }
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r bindings/python/requirements-dev.txt

# .venv with workerlife installed from the wheel `make wheel` builds, as a
# user installs it: the tests, the demo and the benchmarks use the very
# file users get, and the extension is compiled once, not also for a
# `pip install ./bindings/python` (the same crate and Python package, built
# by the same maturin from the same pyproject.toml).
python: wheel
	$(PY) -m pip install -q --disable-pip-version-check --force-reinstall --no-deps $(WHEEL)

# The abi3 wheel users install without Rust (dist/): zig links it against
# an old glibc so that it meets manylinux_2_28, which maturin checks the way
# auditwheel does; stripped of debug info.
# Built again only when a source it is made of changed (make test builds it,
# make dist reuses it).
WHEEL := dist/workerlife-$(VERSION)-cp39-abi3-manylinux_2_28_x86_64.whl
WHEEL_SOURCES := $(shell find src bindings/python/src bindings/python/python -type f -not -name '*.pyc') \
  Cargo.toml Cargo.lock bindings/python/Cargo.toml bindings/python/pyproject.toml
wheel: $(WHEEL)
$(WHEEL): $(WHEEL_SOURCES) | venv
	rm -f dist/workerlife-*.whl
	PATH=$(VENV)/bin:$$PATH $(PY) -m maturin build --quiet --release --strip --zig \
	  --compatibility manylinux_2_28 -m bindings/python/Cargo.toml -o dist

python-test: python cli
	@command -v redis-server >/dev/null || { $(APT_GET) redis-server; }
	$(CARGO) fmt --all --check
	$(CARGO) clippy -p workerlife-python --release -- -D warnings
	$(PY) -m mypy --strict bindings/python/python/workerlife bindings/python/tests examples/python benches/python
	$(PY) -m mypy.stubtest workerlife
	cd bindings/python && $(PY) -m pytest -q -rf -p no:cacheprovider $(PYTEST_PARALLEL) tests

python-bench: python
	$(PY) benches/python/bench_python.py

# The `workerlife` command (`workerlife top`): target/release/workerlife,
# built with the library (see lib).
cli: lib

# Debian's packages for the Perl binding and its servers, installed when a
# module or Perl's C headers are missing (as root, or through sudo); then
# the XS module, built against this repository's library (bindings/perl/blib).
PERL_DEBS := starman starlet libplack-perl libperl-dev
PERL_ENV := PERL5LIB=$(CURDIR)/bindings/perl/blib/arch:$(CURDIR)/bindings/perl/blib/lib
perl: lib
	@perl -MPlack -MStarman -MStarlet -MJSON::PP -MExtUtils::MakeMaker -e1 2>/dev/null \
	  && test -e "$$(perl -MConfig -e 'print $$Config{archlibexp}')/CORE/perl.h" || { $(APT_GET) $(PERL_DEBS); }
	cd bindings/perl && perl Makefile.PL >/dev/null && $(MAKE) --no-print-directory >/dev/null

perl-test: perl cli
	$(PERL_ENV) prove -r bindings/perl/t

perl-bench: perl
	$(PERL_ENV) perl benches/perl/bench.pl

# The engine and the C ABI crate (the Python extension has its own target).
RUST_CRATES := -p workerlife -p workerlife-c -p workerlife-cli
rust-test:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets $(RUST_CRATES) -- -D warnings
	$(CARGO) test --release $(RUST_CRATES)

# libworkerlife.so and .a from the C ABI crate (bindings/c), whose files
# cargo names after the crate: linked under the library's own name.
# Built with the command-line tool, as rust-test builds them: cargo resolves
# the shared crates' features alike (clap's derive asks more of syn), so
# neither build compiles the engine again.
lib:
	$(CARGO) build --release -p workerlife-c -p workerlife-cli
	ln -sf libworkerlife_c.so target/release/libworkerlife.so
	ln -sf libworkerlife_c.a target/release/libworkerlife.a
	mkdir -p $(CDIR)
	ln -sf ../release/libworkerlife.so $(CDIR)/$(SONAME)

# The committed header must be what cbindgen makes of bindings/c now.
header-check: $(CBINDGEN)
	mkdir -p $(CDIR)
	$(CBINDGEN) -q --config bindings/c/cbindgen.toml --crate workerlife-c --output $(CDIR)/workerlife.h bindings/c
	diff -u include/workerlife.h $(CDIR)/workerlife.h

# Regenerates the committed header after a change to bindings/c.
header: $(CBINDGEN)
	$(CBINDGEN) -q --config bindings/c/cbindgen.toml --crate workerlife-c --output include/workerlife.h bindings/c

c-test: lib header-check
	# The header on its own, included twice, in C11 and C++.
	$(CC) $(CFLAGS_STRICT) -pedantic tests/c/header_twice.c $(LINK) -o $(CDIR)/header_c
	$(CXX) -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -x c++ tests/c/header_twice.c $(LINK) -o $(CDIR)/header_cxx
	$(CDIR)/header_c && $(CDIR)/header_cxx
	# Every export, plainly and under ASan + UBSan.
	$(CC) $(CFLAGS_STRICT) -pthread tests/c/test_capi.c $(LINK) -o $(CDIR)/test_capi
	$(CDIR)/test_capi
	$(CC) $(CFLAGS_STRICT) $(SANITIZE) -pthread tests/c/test_capi.c $(LINK) -o $(CDIR)/test_capi_asan
	$(CDIR)/test_capi_asan
	# Every export against the header's word on NULL, under ASan + UBSan.
	$(CC) $(CFLAGS_STRICT) $(SANITIZE) tests/c/test_null_args.c $(LINK) -o $(CDIR)/test_null_args
	$(CDIR)/test_null_args
	# The C prefork server under concurrent load.
	$(CC) $(CFLAGS_STRICT) examples/c/prefork_server.c $(LINK) -o $(CDIR)/prefork_server
	$(CC) $(CFLAGS_STRICT) -pthread tests/c/load_prefork.c -o $(CDIR)/load_prefork
	$(CDIR)/load_prefork $(CDIR)/prefork_server 2>$(CDIR)/prefork_server.log
	# The same, replacing before retiring (max_surge=1).
	$(CDIR)/load_prefork $(CDIR)/prefork_server surge 2>$(CDIR)/prefork_server_surge.log
	# Installed: headers, libraries and pkg-config, used by a fresh build.
	rm -rf $(CDIR)/prefix
	$(MAKE) install PREFIX=$(CDIR)/prefix
	$(CC) -std=c11 -Wall -Wextra -Werror tests/c/header_twice.c \
	  $$(PKG_CONFIG_PATH=$(CDIR)/prefix/lib/pkgconfig pkg-config --cflags --libs workerlife) \
	  -Wl,-rpath,$(CDIR)/prefix/lib -o $(CDIR)/installed_c
	$(CDIR)/installed_c
	$(CC) -std=c11 -Wall -Wextra -Werror tests/c/header_twice.c -I$(CDIR)/prefix/include \
	  $(CDIR)/prefix/lib/libworkerlife.a -lpthread -ldl -lm -o $(CDIR)/static_c
	$(CDIR)/static_c
	@echo "c-test: all C checks passed"

install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(BINDIR)
	install -m 0755 target/release/workerlife $(DESTDIR)$(BINDIR)/workerlife
	install -m 0755 target/release/libworkerlife.so $(DESTDIR)$(LIBDIR)/libworkerlife.so.$(VERSION)
	ln -sf libworkerlife.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libworkerlife.so
	install -m 0644 target/release/libworkerlife.a $(DESTDIR)$(LIBDIR)/libworkerlife.a
	install -m 0644 include/workerlife.h $(DESTDIR)$(PREFIX)/include/workerlife.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	  workerlife.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/workerlife.pc

# Every package users install, written to dist/ (never committed), each
# stamped with the workspace version (Cargo.toml): the Python wheel and sdist,
# the Ruby platform and source gems, the npm package, the CPAN distribution
# and the C tarball. docs/install.md says what each holds and how it is tested.
dist: dist-python dist-ruby dist-node dist-perl dist-c

dist-python: wheel
	rm -f dist/workerlife-$(VERSION).tar.gz
	PATH=$(VENV)/bin:$$PATH $(PY) -m maturin sdist -m bindings/python/Cargo.toml -o dist

dist-ruby: lib ruby
	bindings/ruby/packaging/build $(CURDIR)/dist $(VERSION)

dist-node: lib node
	bindings/node/packaging/build $(CURDIR)/dist $(VERSION)

dist-perl: lib perl
	bindings/perl/packaging/build $(CURDIR)/dist $(VERSION)

dist-c: lib
	packaging/c/build $(CURDIR)/dist $(VERSION) $(SONAME)

# Each package of dist/ installed by its own ecosystem's installer in a
# throwaway directory, away from the checkout and (for the binary packages)
# from the Rust toolchain, then run as a real server that recycles
# (tests/dist/run; DIST_ECOS="ruby node" checks those alone).
dist-test: dist
	$(PYTHON3) tests/dist/run $(DIST_ECOS)

# The benchmarks drive gunicorn and Starman with wrk (BENCH_QUICK=1: one
# short round of each, as .ci/run runs them).
bench: lib python perl
	@command -v wrk >/dev/null || { $(APT_GET) wrk; }
	$(CARGO) bench -p workerlife --bench hot_path --bench sampling --bench container --bench stats
	$(CARGO) bench -p workerlife-c --bench exports
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -Iinclude benches/c/bench_capi.c $(LINK) -o $(CDIR)/bench_capi
	$(CDIR)/bench_capi
	$(PY) benches/python/bench_python.py
	$(PY) benches/python/bench_recycling.py
	$(PY) benches/python/bench_asgi.py
	@command -v redis-server >/dev/null || { $(APT_GET) redis-server; }
	$(PY) benches/python/bench_celery.py
	$(PERL_ENV) perl benches/perl/bench.pl
	$(MAKE) ruby-bench node-bench

# Random sequences of C ABI calls under libFuzzer + ASan. The machine has one
# stable toolchain; RUSTC_BOOTSTRAP lets it take the -Z flags cargo fuzz uses.
fuzz:
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --fuzz-dir . capi_sequences -- \
	  -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 2>&1 | grep -E "^(Done|stat::number_of_executed_units|==|SUMMARY|ERROR|panicked)" ; \
	  test $${PIPESTATUS[0]} -eq 0
