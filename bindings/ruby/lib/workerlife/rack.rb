# frozen_string_literal: true

require "workerlife/host"

module WorkerLife
  # Each request a workerlife request: `use WorkerLife::Rack` in config.ru.
  # Each request holds a ticket of its own (Worker#begin_ticket), so that a
  # worker serving several at once (Puma's threads) has each timed apart
  # for request_timeout. It begins when the request arrives (the request
  # that should be the worker's last makes it stop accepting now) and ends
  # exactly once: when its body is closed (after the response is written),
  # at once for a body that is an Array, or when the app raises. Outside a
  # worker that holds a slot (WorkerLife::Host), and when an outer
  # WorkerLife::Rack already counts the request (the Puma plugin wraps the
  # app too), it passes through.
  class Rack
    TRACKED = "workerlife.tracked"

    def initialize(app)
      @app = app
    end

    def call(env)
      w = Host.worker
      return @app.call(env) if w.nil? || env[TRACKED]

      begin
        ticket = w.begin_ticket
      rescue WorkerLife::Error
        # The slot cannot take it (65,551 requests in flight already, a
        # closed handle): served uncounted rather than refused.
        return @app.call(env)
      end
      env[TRACKED] = true
      Host.leave! if ticket & TICKET_LAST != 0
      handed = false
      begin
        response = @app.call(env)
        # A body already in memory (an Array) is ended now (in the ensure):
        # its response is as good as written, and a server writes an Array
        # in one go with its length (a wrapper would cost it that: chunked,
        # 8 % of a hello world's requests/s on Puma). A leaving worker
        # still answers it.
        body = response[2]
        return response if body.is_a?(Array)

        proxied = [response[0], response[1], Body.new(body) { finish(w, ticket) }]
        handed = true
        proxied
      ensure
        # Whatever went wrong before the body was handed on (the app
        # raised, returned no response) ends the ticket here, once.
        finish(w, ticket) unless handed
      end
    end

    private

    def finish(worker, ticket)
      Host.leave! if worker.end_ticket(ticket)
    rescue WorkerLife::Error
      nil # the slot was retired (the worker is on its way out)
    end

    # The response body, ending the request when the server closes it (as
    # Rack::BodyProxy does; written here to need nothing of rack's). Closed
    # twice, it ends the request once.
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
