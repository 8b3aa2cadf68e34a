# frozen_string_literal: true

# The Puma plugin with a real Puma (Debian's) in cluster mode, 2 workers,
# started and stopped by each test.

require "minitest/autorun"
require "fileutils"
require "io/wait"
require "json"
require "socket"
require "tmpdir"
require_relative "harness"

class TestPuma < Minitest::Test
  def rotate(env)
    Harness.with_puma({ "WORKERLIFE_POLICY" => "max_requests=5" }.merge(env)) do |puma|
      # 20 requests a second: a recycled worker's replacement boots in the meantime.
      results = Array.new(60) { Harness.get(puma.port).tap { sleep 0.05 } }
      failed = results.reject { |r| r[:ok] }
      assert_empty failed, "#{failed.size} failed: #{failed.first(3)}\n#{puma.log[-3000..]}"
      pids = results.map { |r| r[:body] }.uniq
      assert_operator pids.size, :>=, 8, "#{pids.size} workers served 60 requests\n#{puma.log[-3000..]}"
      refute_match(/crash/, puma.log)
      started = puma.lines("workerlife on for Puma cluster")
      assert_equal 1, started.size, "the start-up line, once\n#{puma.log[0, 3000]}"
      # One thread per worker (the test app's `threads 1, 1`): not concurrent.
      assert_match(/policy max_requests=5, 12 slots; the host has surge, master kills, watchdog kills; /,
                   started.first)
      assert_match(/refused here: heartbeat_timeout \(no heartbeat\)\z/, started.first.chomp)
      recycle = puma.lines("[workerlife] recycle_requested").first
      assert_match(/\[workerlife\] recycle_requested slot=\d+ pid=\d+ gen=\d+ reason=max_requests \(5 >= 5\) uptime=/, recycle)
    end
  end

  def test_workers_rotate_every_5_requests_with_the_plugin_alone
    rotate({})
  end

  def test_workers_rotate_every_5_requests_with_the_apps_own_middleware_too
    rotate("APP_MIDDLEWARE" => "1")
  end

  # max_surge=1: Puma's master starts the replacement first (its worker
  # count grown by one, as SIGTTIN does), the old worker drains once the
  # new one serves, and the count goes back: never more than 3 workers.
  def test_max_surge_starts_the_replacement_first
    Harness.with_puma("WORKERLIFE_POLICY" => "max_requests=5,max_surge=1") do |puma|
      results = Array.new(60) { Harness.get(puma.port).tap { sleep 0.05 } }
      failed = results.reject { |r| r[:ok] }
      assert_empty failed, "#{failed.size} failed: #{failed.first(3)}\n#{puma.log[-3000..]}"
      pids = results.map { |r| r[:body] }.uniq
      assert_operator pids.size, :>=, 8, "#{pids.size} workers served 60 requests\n#{puma.log[-3000..]}"
      assert_operator puma.lines("[workerlife] replacing").size, :>=, 3, puma.log[-3000..]
      refute_match(/crash|ready_timeout|retire_first/, puma.log)
      assert_match(/policy max_requests=5,max_surge=1, 13 slots; the host has surge, master kills/,
                   puma.lines("workerlife on for Puma cluster").first)
      # Back to 2 workers once the rotations are over.
      Harness.until_true(20, -> { "2 workers\n#{puma.log[-2000..]}" }) { puma.workers.size == 2 }
    end
  end

  # A dress rehearsal (enforce=off): max_requests=5 trips in each worker
  # that serves 5, the master logs its would_recycle once per worker, and
  # no worker is recycled: the same two serve every request.
  def test_a_dress_rehearsal_logs_would_recycle_and_recycles_no_worker
    Harness.with_puma("WORKERLIFE_POLICY" => "max_requests=5,enforce=off") do |puma|
      before = Harness.until_true(20, -> { "2 workers\n#{puma.log[-2000..]}" }) { (w = puma.workers).size == 2 && w.sort }
      results = Array.new(30) { Harness.get(puma.port).tap { sleep 0.05 } }
      assert_empty results.reject { |r| r[:ok] }, puma.log[-3000..]
      served = results.map { |r| Integer(r[:body]) }.tally
      assert_empty served.keys - before, "served by a worker started later\n#{puma.log[-3000..]}"
      tripped = served.select { |_, n| n >= 5 }.keys
      refute_empty tripped
      would = ->(pid) { puma.log.lines.grep(/\[workerlife\] would_recycle slot=\d+ pid=#{pid} gen=\d+ reason=max_requests \(\d+ >= 5\) /) }
      Harness.until_true(10, -> { "a would_recycle for each of #{tripped}\n#{puma.log[-3000..]}" }) do
        tripped.all? { |pid| would.call(pid).any? }
      end
      tripped.each { |pid| assert_equal 1, would.call(pid).size, "once per generation\n#{puma.log[-3000..]}" }
      assert_equal before, puma.workers.sort, "the same workers serve on"
      refute_match(/recycle_requested|killed|exited|crash/, puma.log)
      assert_match(/workerlife on for Puma cluster: policy max_requests=5,enforce=off, /, puma.log)
    end
  end

  def test_a_worker_leaking_1_mib_a_request_is_recycled_a_few_mib_past_max_rss
    Harness.with_puma("WORKERLIFE_POLICY" => "max_rss=120MiB,sample_interval=50ms") do |puma|
      results = []
      Harness.until_true(60, -> { "a memory_rss recycle\n#{puma.log[-2000..]}" }) do
        results << Harness.get(puma.port, "/leak")
        puma.lines("recycle_requested").grep(/reason=memory_rss/).first
      end
      line = puma.lines("recycle_requested").grep(/reason=memory_rss/).first
      # The library's line (the master's, or the worker's watchdog's): the
      # reason once, its value and limit, sizes for people.
      assert_match(/(\[workerlife\]|workerlife:) recycle_requested slot=\d+ pid=\d+ gen=\d+ reason=memory_rss \([\d.]+MiB >= 120MiB[,)]/, line)
      mib = Float(line[/reason=memory_rss \(([\d.]+)MiB/, 1])
      assert_operator mib, :>=, 120, line
      assert_operator mib, :<=, 128, line
      assert_empty results.reject { |r| r[:ok] }
    end
  end

  # preload_app!: the master reads itself as the workers' parent once the
  # app has booted and before its first fork (before_fork), says so, and a
  # worker leaking 1 MiB a request is recycled at twice that reading.
  def test_with_preload_max_rss_2x_is_twice_the_master_read_before_forking
    env = { "WORKERLIFE_POLICY" => "max_rss=2x,sample_interval=50ms", "APP_PRELOAD" => "1",
            "WORKERLIFE_METRICS" => "127.0.0.1:0" }
    Harness.with_puma(env) do |puma|
      log = puma.log
      read = log.index("[workerlife] relative memory limits read the master, pid #{puma.pid}, after the app's preload: rss ")
      refute_nil read, log[0, 3000]
      forked = log.index("Worker 0 (PID")
      assert forked.nil? || read < forked, "read before the first fork\n#{log[0, 3000]}"
      port = Integer(puma.lines("[workerlife] stats served at").first[/127\.0\.0\.1:(\d+)/, 1])
      stats = JSON.parse(Harness.get(port, "/stats")[:body])
      assert_equal puma.pid, stats["parent"]["pid"], stats["parent"]
      limit = stats["memory_limits"]["max_rss"]
      assert_equal ["2x", 2 * stats["parent"]["rss_bytes"]], limit.values_at("setting", "bytes")
      results = []
      line = Harness.until_true(120, -> { "a memory_rss recycle\n#{puma.log[-2000..]}" }) do
        results << Harness.get(puma.port, "/leak")
        puma.lines("recycle_requested").grep(/reason=memory_rss/).first
      end
      shown = Float(line[/reason=memory_rss \([\d.]+MiB >= ([\d.]+)MiB/, 1] || flunk(line))
      assert_in_delta limit["bytes"] / 1_048_576.0, shown, 0.1, line
      assert_empty results.reject { |r| r[:ok] }
    end
  end

  def test_a_request_holding_the_interpreter_lock_is_killed_at_request_timeout
    Harness.with_puma("WORKERLIFE_POLICY" => "request_timeout=1s") do |puma|
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      hung = Harness.get(puma.port, "/hang")
      took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
      refute hung[:ok], "the hung request failed"
      assert_operator took, :<, 5, "ended after #{took}s"
      # By the worker's watchdog ("killing it") or by the master ("killed"),
      # whichever looked first.
      Harness.until_true(10, -> { "the kill to be logged\n#{puma.log[-2000..]}" }) do
        puma.log.lines.grep(/kill/).grep(/request_timeout/).first
      end
      results = Array.new(10) { Harness.get(puma.port) }
      assert_empty results.reject { |r| r[:ok] }
    end
  end

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Sends GET `path` over a plain socket and reads until the connection
  # ends: [when it was sent, when it ended, what was read]. A worker killed
  # mid-request ends it with nothing (EOF) or a reset.
  def request_until_closed(port, path, within)
    sock = TCPSocket.new("127.0.0.1", port)
    sock.write("GET #{path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    sent = now
    answer = +""
    loop do
      left = sent + within - now
      raise "#{path}: the connection still open after #{within} s: #{answer.inspect}" if left <= 0
      next unless sock.wait_readable(left)

      chunk = sock.read_nonblock(1 << 16, exception: false)
      return [sent, now, answer] if chunk.nil?

      answer << chunk if chunk.is_a?(String)
    end
  rescue Errno::ECONNRESET, Errno::EPIPE
    [sent, now, answer]
  ensure
    sock&.close
  end

  # threads 1, 4 (concurrent) with request_timeout=1s: each request holds a
  # ticket of its own, so one stuck (holding Ruby's lock in a loop) while 3
  # clients keep the same worker ending short requests is still killed
  # within twice the timeout, and a new worker serves after.
  def test_a_request_stuck_among_busy_threads_is_killed_within_twice_request_timeout
    env = { "WORKERLIFE_POLICY" => "request_timeout=1s", "APP_THREADS" => "4", "APP_WORKERS" => "1" }
    Harness.with_puma(env) do |puma|
      started = puma.lines("workerlife on for Puma cluster").first
      assert_match(/policy request_timeout=1s, \d+ slots; the host has surge, concurrent requests, master kills, watchdog kills, times each request; /,
                   started)
      refute_match(/request_timeout \(/, started, "request_timeout is not refused")
      victim = Harness.until_true(20, -> { "one worker\n#{puma.log[-2000..]}" }) { (w = puma.workers).size == 1 && w.first }
      served = Queue.new # [finished at, the answer]
      stop = false
      clients = Array.new(3) do
        Thread.new do
          served << [now, Harness.get(puma.port, "/", timeout: 5)] until stop
        end
      end
      results = []
      Harness.until_true(20, -> { "the clients served by #{victim}: #{results.last(3)}" }) do
        results << served.pop until served.empty?
        results.count { |_, r| r[:ok] && r[:body] == victim.to_s } >= 6
      end
      sent, ended, answer = request_until_closed(puma.port, "/hang", 15)
      took = ended - sent
      refute_match(%r{\AHTTP/1\.1 200}, answer, "the stuck request was answered: not killed")
      assert_operator took, :<, 2.0, "killed #{took.round(3)} s after it was sent (request_timeout=1s)"
      results << served.pop until served.empty?
      during = results.count { |at, r| at > sent && at < ended && r[:ok] && r[:body] == victim.to_s }
      assert_operator during, :>=, 1, "short requests ended in the worker while the stuck one ran"
      line = Harness.until_true(10, -> { "the kill to be logged\n#{puma.log[-2000..]}" }) do
        puma.log.lines.grep(/kill/).grep(/request_timeout/).grep(/pid=#{victim}\b/).first
      end
      assert_match(/reason=request_timeout \(/, line)
      # A new worker serves, and goes on serving.
      Harness.until_true(20, -> { "a new worker to serve\n#{puma.log[-2000..]}" }) do
        r = Harness.get(puma.port, "/", timeout: 5)
        r[:ok] && r[:body] != victim.to_s
      end
      stop = true
      clients.each(&:join)
      results = Array.new(10) { Harness.get(puma.port) }
      assert_empty results.reject { |r| r[:ok] }
      refute_includes results.map { |r| r[:body] }, victim.to_s
    ensure
      stop = true
      clients&.each(&:join)
    end
  end

  # A worker that crashes once (SIGKILL) is replaced and logged at its
  # severity (an unasked exit: a warning); Puma serves on, no crash loop.
  def test_one_crash_is_logged_as_a_warning_and_puma_serves_on
    Harness.with_puma("WORKERLIFE_POLICY" => "max_requests=1000") do |puma|
      victim = Harness.until_true(20, -> { "a worker adopted\n#{puma.log[-2000..]}" }) do
        puma.workers.find { |w| puma.log =~ /\] spawned slot=\d+ pid=#{w} / }
      end
      Process.kill("KILL", victim)
      line = Harness.until_true(20, -> { "the crash of #{victim} logged\n#{puma.log[-2000..]}" }) do
        puma.log.lines.grep(/\] exited slot=\d+ pid=#{victim} /).first
      end
      assert_match(/\[\d+\] WARNING: \[workerlife\] exited slot=\d+ pid=#{victim} gen=\d+ .*status=9 crash$/, line.chomp)
      Harness.until_true(20, -> { "2 workers again\n#{puma.log[-2000..]}" }) { (w = puma.workers).size == 2 && !w.include?(victim) }
      results = Array.new(10) { Harness.get(puma.port) }
      assert_empty results.reject { |r| r[:ok] }
      refute_match(/crash_loop|crash loop/, puma.log)
      assert_nil Process.wait(puma.pid, Process::WNOHANG), "puma still runs"
      # The info lines stay Puma's plain log lines.
      assert_match(/^\[\d+\] \[workerlife\] spawned slot=/, puma.log)
    end
  end

  # Every worker exits 1 as it loads the app (WL_HOSTS_CRASH). Puma starts
  # its own workers, with no hook to delay one, so on the crash_loop event
  # the plugin stops Puma: every worker stopped, exit 1, an ERROR line
  # naming the crash loop, the last line saying why it stopped.
  def test_a_crash_loop_stops_puma_with_exit_1_naming_it_and_no_worker_left
    dir = Dir.mktmpdir("wl-crash-")
    record = File.join(dir, "crashed")
    puma = Harness::Puma.new("WORKERLIFE_POLICY" => "max_requests=1000", "WL_HOSTS_CRASH" => record)
    begin
      status = puma.exit_status(20)
      left = puma.group
      log = puma.log
      assert_equal 1, status.exitstatus, "#{status.inspect}\n#{log[-3000..]}"
      assert_empty left, "processes left in Puma's group\n#{log[-3000..]}"
      assert_match(/\[\d+\] ERROR: \[workerlife\] crash_loop slot=\d+ pid=\d+ gen=\d+ .* crash delay=[\d.]+s$/, log)
      assert_match(/ERROR: \[workerlife\] crash loop: workers keep crashing before min_uptime \(crash_loop slot=.*\); .*stopping Puma \(exit 1\)/, log)
      assert_match(/- Gracefully shutting down workers/, log)
      assert_match(/ERROR: \[workerlife\] Puma stopped: crash loop \(exit 1\)\z/, log.chomp, "the last line")
      assert_equal 1, log.lines.grep(/crash loop: workers keep crashing/).size, "stopped once\n#{log[-3000..]}"
      assert_match(/WARNING: \[workerlife\] exited slot=\d+ .* crash$/, log, "each crash at its severity")
      refute_match(/booted in/, log, "no worker served")
      # More than max_restarts (5) crashes, and far fewer than the
      # thousands of a Puma left to itself.
      crashed = File.readlines(record)
      assert_operator crashed.size, :>, 5
      assert_operator crashed.size, :<, 1000
    ensure
      puma.stop
      FileUtils.rm_rf(dir)
    end
  end

  # The socket inodes of the listeners on 127.0.0.1:port (/proc/net/tcp).
  def listener_inodes(port)
    File.readlines("/proc/net/tcp").drop(1).filter_map do |l|
      f = l.split
      f[9] if f[1] == format("0100007F:%04X", port) && f[3] == "0A"
    end
  end

  def holds_socket?(pid, inode)
    Dir["/proc/#{pid}/fd/*"].any? { |fd| File.readlink(fd) == "socket:[#{inode}]" rescue false }
  end

  # WORKERLIFE_METRICS=127.0.0.1:0: the master serves the pool's stats on
  # the port it logs, its workers hold none of its sockets, and the
  # recycles of max_requests=5 are counted there.
  def test_workerlife_metrics_serves_the_pools_stats_from_the_master
    Harness.with_puma("WORKERLIFE_POLICY" => "max_requests=5", "WORKERLIFE_METRICS" => "127.0.0.1:0") do |puma|
      line = puma.lines("[workerlife] stats served at").first
      refute_nil line, puma.log[0, 3000]
      port = Integer(line[%r{stats served at 127\.0\.0\.1:(\d+) \(/metrics, /stats\)}, 1])
      inodes = listener_inodes(port)
      assert_equal 1, inodes.size, "one listener on #{port}"
      assert holds_socket?(puma.pid, inodes.first), "the master holds it"
      workers = Harness.until_true(20, -> { "2 workers\n#{puma.log[-2000..]}" }) { (w = puma.workers).size == 2 && w }
      workers.each { |w| refute holds_socket?(w, inodes.first), "worker #{w} holds the metrics listener" }
      results = Array.new(20) { Harness.get(puma.port) }
      assert_empty results.reject { |r| r[:ok] }
      text = Harness.until_true(20, -> { "a max_requests recycle counted\n#{puma.log[-2000..]}" }) do
        m = Harness.get(port, "/metrics")
        m[:ok] && m[:body] =~ /^workerlife_recycles_total\{reason="max_requests"\} [1-9]/ && m[:body]
      end
      assert_match(/^workerlife_workers\{state="running"\} \d+$/, text)
      stats = Harness.get(port, "/stats")
      assert stats[:ok], stats.inspect
      assert_operator JSON.parse(stats[:body])["per_slot"].size, :>=, 2
    end
  end

  # A setting Puma cannot serve stops its start (exit 1), naming the key:
  # never "serve on with workerlife off".
  def refused(policy, *needles, env: {})
    status, log = Harness.refused_puma({ "WORKERLIFE_POLICY" => policy }.merge(env))
    refute status.success?, "puma exited #{status.inspect}\n#{log}"
    needles.each { |n| assert_match(n, log) }
    refute_match(/Worker 0 \(PID/, log, "no worker started")
    log
  end

  def test_heartbeat_timeout_stops_the_start_naming_the_key_and_the_host
    refused("heartbeat_timeout=2s", /ERROR: \[workerlife\] WORKERLIFE_POLICY="heartbeat_timeout=2s" stops the start: /,
            /heartbeat_timeout=2s: Puma cluster sends no heartbeat/, /request_timeout catches a stuck request/)
  end

  def test_a_typo_in_the_policy_stops_the_start_naming_the_key
    refused("max_request=5", /unknown policy key "max_request"/)
  end

  def test_a_pool_file_that_cannot_be_made_stops_the_start
    refused("max_requests=5", %r{WORKERLIFE_POOL="/nonexistent/wl-dir/p.pool" stops the start: .*No such file},
            env: { "WORKERLIFE_POOL" => "/nonexistent/wl-dir/p.pool" })
  end

  def test_a_metrics_address_that_cannot_be_served_stops_the_start
    refused("max_requests=5", /ERROR: \[workerlife\] WORKERLIFE_METRICS="127.0.0.1:99999" stops the start: .*at most 65535/,
            env: { "WORKERLIFE_METRICS" => "127.0.0.1:99999" })
    taken = TCPServer.new("127.0.0.1", 0)
    at = "127.0.0.1:#{taken.addr[1]}"
    refused("max_requests=5", /ERROR: \[workerlife\] WORKERLIFE_METRICS="#{Regexp.escape(at)}" stops the start: .*in use/,
            env: { "WORKERLIFE_METRICS" => at })
  ensure
    taken&.close
  end
end
