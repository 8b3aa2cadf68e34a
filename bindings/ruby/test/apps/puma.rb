# frozen_string_literal: true

# The Puma of the Ruby tests: cluster mode, 2 workers, the workerlife plugin.
$stdout.sync = true # the log file is read while Puma runs
$stderr.sync = true
workers Integer(ENV.fetch("APP_WORKERS", "2"))
threads 1, Integer(ENV.fetch("APP_THREADS", "1"))
bind "tcp://127.0.0.1:#{ENV.fetch('APP_PORT')}"
worker_timeout 60
# APP_PRELOAD=1: the master loads the app before it forks (the workers share it).
preload_app! if ENV["APP_PRELOAD"] == "1"
plugin :workerlife unless ENV["APP_PLAIN"] == "1"
