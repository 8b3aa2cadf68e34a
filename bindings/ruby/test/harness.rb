# frozen_string_literal: true

# A Puma started by a test and stopped by it (its whole process group),
# even when the test fails; waits on conditions with deadlines.

require "net/http"
require "socket"
require "tmpdir"

module Harness
  HERE = File.expand_path(__dir__)
  LIB = File.expand_path("../lib", HERE)

  def self.free_port
    s = TCPServer.new("127.0.0.1", 0)
    port = s.addr[1]
    s.close
    port
  end

  def self.until_true(timeout, what)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      v = yield
      return v if v
      raise "timed out waiting for #{what.respond_to?(:call) ? what.call : what}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.02
    end
  end

  # `puma -C test/apps/puma.rb test/apps/config.ru` on a free port.
  class Puma
    attr_reader :port, :log_path, :pid

    def initialize(env = {})
      @port = Harness.free_port
      @dir = Dir.mktmpdir("wl-puma-")
      @log_path = File.join(@dir, "puma.log")
      full = { "APP_PORT" => @port.to_s, "RUBYLIB" => [LIB, ENV["RUBYLIB"]].compact.join(":") }.merge(env)
      @pid = Process.spawn(full, "puma", "-C", File.join(HERE, "apps", "puma.rb"), File.join(HERE, "apps", "config.ru"),
                           out: @log_path, err: [:child, :out], pgroup: true)
    end

    def log
      File.exist?(@log_path) ? File.read(@log_path) : ""
    end

    # The pids of its live children (its workers).
    def workers
      Dir["/proc/[0-9]*/stat"].filter_map do |f|
        fields = File.read(f).split(") ").last.split
        File.basename(File.dirname(f)).to_i if fields[1].to_i == @pid && fields[0] != "Z"
      rescue Errno::ENOENT, Errno::ESRCH
        nil
      end
    end

    # The pids of the live processes of its process group (the master and
    # its workers, and any worker the master left behind when it exited).
    def group
      Dir["/proc/[0-9]*/stat"].filter_map do |f|
        fields = File.read(f).split(") ").last.split
        File.basename(File.dirname(f)).to_i if fields[2].to_i == @pid && fields[0] != "Z"
      rescue Errno::ENOENT, Errno::ESRCH
        nil
      end
    end

    def lines(needle)
      log.lines.grep(/#{Regexp.escape(needle)}/)
    end

    # The exit status of a Puma that must stop by itself (its start refused).
    def exit_status(timeout = 30)
      Harness.until_true(timeout, -> { "puma to exit by itself\n#{log}" }) do
        _, @status = Process.wait2(@pid, Process::WNOHANG)
        @status
      end
    end

    def ready
      Harness.until_true(30, -> { "puma to serve\n#{log}" }) do
        raise "puma exited:\n#{log}" if Process.wait(@pid, Process::WNOHANG)

        Harness.get(@port, "/", timeout: 1)[:ok]
      end
      self
    end

    # SIGTERM, then whatever of its group is left: SIGKILL; the directory
    # goes. A Puma reaped already (its start refused) gets no SIGTERM: its
    # pid may be another's now (a live group keeps its id from reuse).
    def stop
      unless @status
        begin
          Process.kill("TERM", @pid)
          Harness.until_true(20, "puma to stop") { Process.wait(@pid, Process::WNOHANG) }
        rescue Errno::ESRCH, Errno::ECHILD, RuntimeError
          nil
        end
      end
      begin
        Process.kill("KILL", -@pid)
      rescue Errno::ESRCH
        nil
      end
      begin
        Process.wait(@pid) unless @status
      rescue Errno::ECHILD
        nil
      end
      FileUtils.rm_rf(@dir)
    end
  end

  def self.get(port, path = "/", timeout: 15)
    http = Net::HTTP.new("127.0.0.1", port)
    http.open_timeout = timeout
    http.read_timeout = timeout
    res = http.get(path)
    { ok: res.code == "200", body: res.body, status: res.code }
  rescue StandardError => e
    { ok: false, error: e.message }
  end

  def self.with_puma(env = {})
    puma = Puma.new(env)
    begin
      yield puma.ready
    ensure
      puma.stop
    end
  end

  # A Puma whose start must be refused: its exit status and its log.
  def self.refused_puma(env)
    puma = Puma.new(env)
    begin
      status = puma.exit_status
      [status, puma.log]
    ensure
      puma.stop
    end
  end
end
