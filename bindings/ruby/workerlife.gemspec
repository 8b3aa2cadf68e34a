# frozen_string_literal: true

# One gemspec for the three gems (bindings/ruby/packaging/build makes the
# first two in a staging copy of this directory):
# - the platform gem (WORKERLIFE_GEM_PLATFORM=x86_64-linux): the library,
#   built and stripped, at lib/workerlife/PLATFORM/libworkerlife.so;
# - the source gem (ext/workerlife/rust holds the library's Rust sources):
#   ext/workerlife/extconf.rb builds the library with cargo at install;
# - `gem build` in the repository: the Ruby files alone, which load the
#   repository's target/release library (or WORKERLIFE_LIB, or the system's).
# The version is the library's: WORKERLIFE_GEM_VERSION (the build passes
# it), else the workspace's in Cargo.toml.

version = lambda do
  given = ENV.fetch("WORKERLIFE_GEM_VERSION", "")
  return given unless given.empty?

  cargo = File.expand_path("../../Cargo.toml", __dir__)
  section = nil
  File.foreach(cargo) do |line|
    section = line[/^\[(.+)\]/, 1] || section
    value = line[/^version = "(.+)"/, 1]
    return value if value && section == "workspace.package"
  end
  raise "workerlife.gemspec: no [workspace.package] version in #{cargo}"
end

Gem::Specification.new do |s|
  s.name = "workerlife"
  s.version = version.call
  s.summary = "Decides when a server's worker processes must be recycled, why, and how"
  s.description = "Ruby binding of workerlife's C ABI (through the ffi gem): Policy, Pool, " \
                  "Worker, Watchdog, a Rack middleware and a Puma plugin (plugin :workerlife)."
  s.authors = ["workerlife"]
  # The gem's own page (the project has no public repository address yet).
  s.homepage = "https://rubygems.org/gems/workerlife"
  s.licenses = ["MIT", "Apache-2.0"]
  s.files = Dir["lib/**/*.rb", "LICENSE-MIT", "LICENSE-APACHE", base: __dir__]
  s.require_paths = ["lib"]
  s.required_ruby_version = ">= 2.7"
  s.add_dependency "ffi", "~> 1.15"

  platform = ENV.fetch("WORKERLIFE_GEM_PLATFORM", "")
  if !platform.empty?
    library = "lib/workerlife/#{platform}/libworkerlife.so"
    raise "workerlife.gemspec: #{library} is missing" unless File.file?(File.expand_path(library, __dir__))

    s.platform = Gem::Platform.new(platform)
    s.files << library
  elsif File.file?(File.expand_path("ext/workerlife/rust/Cargo.toml", __dir__))
    s.extensions = ["ext/workerlife/extconf.rb"]
    s.files += Dir["ext/workerlife/extconf.rb", "ext/workerlife/rust/**/*", base: __dir__]
               .reject { |f| File.directory?(File.join(__dir__, f)) }
  end
end
