# frozen_string_literal: true

Gem::Specification.new do |s|
  s.name = "workerlife"
  s.version = "0.1.0"
  s.summary = "Decides when a server's worker processes must be recycled, why, and how"
  s.description = "Ruby binding of workerlife's C ABI (through the ffi gem): Policy, Pool, " \
                  "Worker, Watchdog, a Rack middleware and a Puma plugin (plugin :workerlife)."
  s.authors = ["workerlife"]
  s.license = "MIT OR Apache-2.0"
  s.files = Dir["lib/**/*.rb"]
  s.require_paths = ["lib"]
  s.required_ruby_version = ">= 2.7"
  s.add_dependency "ffi", ">= 1.15"
end
