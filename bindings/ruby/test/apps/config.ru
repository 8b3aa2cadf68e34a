# frozen_string_literal: true

# `/` answers the worker's pid, `/leak` keeps 1 MiB more, `/hang` holds
# Ruby's interpreter lock in a loop for 10 s. With APP_MIDDLEWARE=1 the app
# also uses WorkerLife::Rack itself (counted once with the plugin).
#
# With WL_HOSTS_CRASH=FILE (the crash-loop scenario of tests/hosts, and
# test_puma.rb) every worker appends its pid and a newline to FILE and exits
# with status 1 as it loads this app (Puma and Unicorn load it in each
# worker: no preload), before serving.
if (crash = ENV["WL_HOSTS_CRASH"]) && !crash.empty?
  File.open(crash, File::WRONLY | File::APPEND | File::CREAT) { |f| f.write("#{Process.pid}\n") }
  exit 1
end

require "workerlife/rack" if ENV["APP_MIDDLEWARE"] == "1"

LEAKED = []

use WorkerLife::Rack if ENV["APP_MIDDLEWARE"] == "1"
run(lambda do |env|
  case env["PATH_INFO"]
  when "/leak"
    LEAKED << ("x" * (1 << 20))
  when "/hang"
    until_at = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    x = 0
    x += 1 while Process.clock_gettime(Process::CLOCK_MONOTONIC) < until_at
  end
  [200, { "content-type" => "text/plain" }, [Process.pid.to_s]]
end)
