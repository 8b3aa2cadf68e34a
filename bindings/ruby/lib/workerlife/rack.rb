# frozen_string_literal: true

require "workerlife/host"

module WorkerLife
  # Each request a workerlife request: `use WorkerLife::Rack` in config.ru.
  # begin when it arrives (the request that should be the worker's last
  # makes it stop accepting now), end when its body is closed (after the
  # response is written), or at once for a body that is an Array. Outside a worker that holds a slot
  # (WorkerLife::Host), and when an outer WorkerLife::Rack already counts
  # the request (the Puma plugin wraps the app too), it passes through.
  class Rack
    TRACKED = "workerlife.tracked"

    def initialize(app)
      @app = app
    end

    def call(env)
      w = Host.worker
      return @app.call(env) if w.nil? || env[TRACKED]

      env[TRACKED] = true
      Host.leave! if w.begin_request
      begin
        response = @app.call(env)
      rescue Exception # rubocop:disable Lint/RescueException -- ended, then re-raised
        finish(w)
        raise
      end
      # A body already in memory (an Array) is ended now: its response is
      # as good as written, and a server writes an Array in one go with
      # its length (a wrapper would cost it that: chunked, 8 % of a hello
      # world's requests/s on Puma). A leaving worker still answers it.
      body = response[2]
      if body.is_a?(Array)
        finish(w)
        return response
      end
      [response[0], response[1], Body.new(body) { finish(w) }]
    end

    private

    def finish(worker)
      Host.leave! if worker.end_request
    rescue WorkerLife::Error
      nil # the slot was retired (the worker is on its way out)
    end

    # The response body, ending the request when the server closes it (as
    # Rack::BodyProxy does; written here to need nothing of rack's).
    class Body
      def initialize(body, &done)
        @body = body
        @done = done
        @closed = false
      end

      def each(&block)
        @body.each(&block)
      end

      def close
        return if @closed

        @closed = true
        begin
          @body.close if @body.respond_to?(:close)
        ensure
          @done.call
        end
      end

      def closed?
        @closed
      end

      def respond_to_missing?(name, include_all = false)
        name != :to_ary && @body.respond_to?(name, include_all)
      end

      def method_missing(name, *args, &block)
        return super if name == :to_ary

        @body.__send__(name, *args, &block)
      end
    end
  end
end
