# frozen_string_literal: true

# workerlife for Unicorn, in its config file (docs/ruby.md, "Rack, and
# Unicorn"):
#
#   WORKERLIFE_POLICY="max_requests=1000,max_rss=300MiB,request_timeout=30s" \
#     RUBYLIB=/path/to/workerlife/bindings/ruby/lib \
#     unicorn -c examples/ruby/unicorn.conf.rb -l 127.0.0.1:8080 config.ru
#
# with `use WorkerLife::Rack` in config.ru (`require "workerlife/rack"`).
#
# - The master parses the policy when it reads this file (a bad key stops
#   Unicorn at start, naming it; so do heartbeat_timeout and max_surge,
#   which Unicorn cannot carry out) and makes the pool, shared with every
#   worker it forks after.
# - after_fork (the worker): the worker claims its slot by pid and starts
#   its watchdog, which sends it SIGQUIT once on a granted recycle
#   (Unicorn's graceful stop: finish the request, accept no more; its
#   SIGTERM is an immediate exit) and SIGKILL on a kill decision
#   (request_timeout), even while a request holds Ruby's interpreter lock.
# - after_worker_ready (the worker): its slot is ready, which returns the
#   recycle permit of the worker it replaced.
# - The master runs no thread of ours (a thread holding one of the
#   library's locks across Unicorn's fork could leave it held in the
#   child): before each fork and after each worker's exit it adopts
#   Unicorn's workers by pid, reports the exit with its status, ticks the
#   pool and logs its events, each with its reason:
#     [workerlife] recycle_requested pid=2230 slot=1 reason=max_requests
#   Kills the pool decides in those ticks are sent identity-checked.

require "workerlife"
require "workerlife/host"

workers = Integer(ENV.fetch("UNICORN_WORKERS", "2"))
worker_processes workers
timeout Integer(ENV.fetch("UNICORN_TIMEOUT", "60"))
preload_app false

spec = ENV.fetch("WORKERLIFE_POLICY", "")
begin
  wl_policy = WorkerLife::Policy.parse(spec)
rescue WorkerLife::Error => e
  raise ArgumentError, "workerlife: bad WORKERLIFE_POLICY #{spec.inspect}: #{e.message}"
end
# Two keys Unicorn cannot honour, refused at start rather than left to do
# harm: nothing beats an idle worker's slot (heartbeat_timeout would kill
# healthy idle workers), and Unicorn's master starts its workers itself
# (max_surge's replacement would never come, and no worker would retire).
{
  "heartbeat_timeout" => "nothing beats an idle Unicorn worker's slot, so healthy idle workers would be killed",
  "max_surge" => "Unicorn's master starts its workers itself, so the replacement would never come",
}.each do |key, why|
  next unless wl_policy.to_s.split(",").any? { |kv| kv.start_with?("#{key}=") }

  raise ArgumentError, "workerlife: #{key} cannot be carried out under Unicorn (#{why}); leave it off"
end
wl_pool = WorkerLife::Pool.new(wl_policy, slots: (2 * workers) + 8, shared: true)
wl_adopted = {}

wl_log = lambda do |server, line|
  server.logger.info("[workerlife] #{line}")
end

# The master's round: adopt the workers Unicorn lists, tick, act on kills,
# log every event.
wl_round = lambda do |server|
  (server.instance_variable_get(:@workers) || {}).each_key do |pid|
    next if wl_adopted[pid]

    begin
      wl_pool.adopt(pid)
    rescue WorkerLife::Error
      nil # gone already, or claimed by then
    end
    wl_adopted[pid] = true
  end
  wl_pool.tick.each do |a|
    next unless a.action == :kill

    begin
      WorkerLife.kill(a.pid, "KILL", a.identity)
      wl_log.call(server, "killing worker #{a.pid} (slot #{a.slot}): #{wl_pool.decision(a.slot).text}")
    rescue WorkerLife::Error => e
      wl_log.call(server, "not signalling #{a.pid}: #{e.message}")
    end
  end
  wl_pool.events.each do |e|
    parts = ["#{e.kind} pid=#{e.pid} slot=#{e.slot}"]
    parts << "reason=#{e.reason}" if e.reason
    parts << "status=#{e.status}" if e.status
    parts << "rss=#{e.rss}" if e.rss
    parts << "crash" if e.crash
    wl_log.call(server, parts.join(" "))
  end
end

wl_log_policy = true
before_fork do |server, _worker|
  if wl_log_policy
    wl_log.call(server, "policy #{spec.inspect}, #{(2 * workers) + 8} slots")
    wl_log_policy = false
  end
  wl_round.call(server)
end

after_fork do |server, _worker|
  begin
    WorkerLife::Host.start(wl_pool.claim(Process.pid), recycle_signal: "QUIT")
  rescue WorkerLife::Error => e
    wl_log.call(server, "worker #{Process.pid} runs unsupervised: #{e.message}")
  end
  at_exit { WorkerLife::Host.exiting }
end

# Ready once it can accept: a replacement that takes no request yet (Unicorn's
# workers race for each connection) still returns the recycle permit of the
# worker it follows, so the next worker due may leave.
after_worker_ready do |server, _worker|
  w = WorkerLife::Host.worker
  begin
    wl_pool.ready(w.slot) if w
  rescue WorkerLife::Error => e
    wl_log.call(server, "worker #{Process.pid}: ready: #{e.message}")
  end
end

after_worker_exit do |server, _worker, status|
  wl_adopted.delete(status.pid)
  begin
    wl_pool.exited(status.pid, status)
  rescue WorkerLife::Error
    nil # not one of ours
  end
  wl_round.call(server)
end
