# frozen_string_literal: true

require "workerlife"

module WorkerLife
  # What a server's worker process holds: its slot's handle and its
  # watchdog, set by the Puma plugin (or by hand: `WorkerLife::Host.start(worker)`
  # in Unicorn's after_fork). The Rack middleware reads it.
  #
  # One way out: the watchdog sends SIGTERM to this process once, on a
  # granted recycle (Puma's and Unicorn's graceful stop: accept no more,
  # finish what is in flight); the middleware wakes it when a request says
  # the worker must go, so nothing waits for the watchdog's next look. The
  # watchdog also ends the process with SIGKILL on a kill decision
  # (request_timeout), even while a request holds Ruby's interpreter lock.
  module Host
    @worker = nil
    @watchdog = nil

    class << self
      attr_reader :worker, :watchdog

      # Takes this process's slot: `worker` a WorkerLife::Worker.
      def start(worker, recycle_signal: "TERM")
        @worker = worker
        @watchdog = worker.watchdog(recycle_signal: recycle_signal)
      end

      # The worker must go: the watchdog looks now (and signals once).
      def leave!
        @watchdog&.wake
      end

      # On the way out (Puma's on_worker_shutdown, at_exit): not a crash,
      # and the recycle permit goes back at once.
      def exiting
        w = @worker
        return if w.nil?

        @worker = nil
        begin
          w.exiting
        rescue WorkerLife::Error
          nil # the slot was retired already
        end
      end
    end
  end
end
