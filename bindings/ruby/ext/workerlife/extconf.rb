# frozen_string_literal: true

# The source gem's build, which `gem install` runs: compiles the library
# from the Rust sources beside this file (rust/, written by
# bindings/ruby/packaging/build) with cargo, and writes a Makefile whose
# install puts it where the gem's loader looks first:
# lib/workerlife/PLATFORM/libworkerlife.so (RubyGems copies what is
# installed into the gem's lib/ and its extension directory).
#
# CARGO names cargo (default: the one on PATH). CARGO_TARGET_DIR, when set,
# is where cargo builds (and is kept); else a temporary directory, removed
# once the library is copied out.

require "fileutils"
require "rbconfig"
require "shellwords"
require "tmpdir"

cargo = ENV.fetch("CARGO", "").empty? ? "cargo" : ENV.fetch("CARGO")
unless system(cargo, "--version", out: File::NULL, err: File::NULL)
  abort <<~MSG
    workerlife: this is the source gem, which builds the library with Rust's cargo at install,
    and `#{cargo}` was not found on PATH. Either install Rust (https://rustup.rs, 1.80 or later)
    and run `gem install workerlife` again, or install the platform gem, which holds the library
    built, on x86_64 Linux: gem install workerlife --platform x86_64-linux
  MSG
end

manifest = File.expand_path("rust/Cargo.toml", __dir__)
given = ENV.fetch("CARGO_TARGET_DIR", "")
target = given.empty? ? Dir.mktmpdir("workerlife-cargo-") : File.expand_path(given)
built = File.join(Dir.pwd, "libworkerlife.so")
begin
  puts "workerlife: cargo build --release (#{manifest}, target #{target})"
  # Not --locked: Cargo.lock is the whole workspace's, which cargo trims to
  # these two crates (the versions it pins stay).
  ok = system({ "CARGO_TARGET_DIR" => target }, cargo, "build", "--release",
              "--manifest-path", manifest, "-p", "workerlife-c")
  abort "workerlife: `cargo build` of the library failed (its output is above)" unless ok

  library = File.join(target, "release", "libworkerlife_c.so")
  abort "workerlife: cargo built no #{library}" unless File.file?(library)
  # The debug info is most of the file; without `strip` it stays.
  FileUtils.cp(library, built) unless system("strip", "--strip-debug", "-o", built, library, err: File::NULL)
ensure
  FileUtils.rm_rf(target) if given.empty?
end

dest = File.join(RbConfig::CONFIG["sitearchdir"], "workerlife", Gem::Platform.local.to_s)
File.write("Makefile", <<~MAKE)
  all:
  \t@true
  clean:
  \t@true
  install:
  \tmkdir -p #{dest.shellescape}
  \tcp #{built.shellescape} #{File.join(dest, 'libworkerlife.so').shellescape}
MAKE
