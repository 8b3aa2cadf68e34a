# frozen_string_literal: true

# The shared test vectors (tests/vectors/*.json, and WORKERLIFE_VECTORS'
# directory when set) through the Ruby binding: the same cases the Rust,
# C, Python, Perl and Node suites run.

require "json"
require "workerlife"

module Vectors
  REPO = File.expand_path("../../..", __dir__)
  GROWTH_FIELDS = %w[bytes_per_request bytes_per_second seconds_to_limit requests_to_limit samples].freeze

  class StepFailed < StandardError; end

  def self.files
    dirs = [File.join(REPO, "tests", "vectors")]
    dirs << ENV["WORKERLIFE_VECTORS"] if ENV["WORKERLIFE_VECTORS"] && !ENV["WORKERLIFE_VECTORS"].empty?
    dirs.flat_map { |d| Dir[File.join(d, "*.json")].sort }
  end

  # [["file: name", case], ...]
  def self.cases
    files.flat_map do |f|
      JSON.parse(File.read(f)).map { |c| ["#{File.basename(f)}: #{c.fetch('name', '<unnamed>')}", c] }
    end
  end

  # Equal to 1e-9 relative (the fit is computed in f64 the same way everywhere), or both nil.
  def self.same_number(got, want)
    return got.nil? && want.nil? if got.nil? || want.nil?

    (got - want).abs <= 1e-9 * [want.abs, 1.0].max
  end

  # A step's pid: a number, or "self" for this process (alive, for cases
  # that need a live worker).
  def self.pid_of(step)
    step["pid"] == "self" ? Process.pid : step["pid"]
  end

  def self.run_case(c)
    slots = c.fetch("slots", 1)
    pool = WorkerLife::Pool.new(c.fetch("policy", ""), slots: slots, seed: c.fetch("seed", 0), manual_clock: true)
    handles = {}
    worker = ->(slot) { handles[slot] ||= pool.worker(slot) }
    tickets = {} # by the name the vector gave them
    steps = c.fetch("steps")
    pool.spawned(0, Process.pid) if slots == 1 && steps.none? { |s| s["op"] == "spawned" }
    steps.each_with_index do |step, i|
      slot = step.fetch("slot", 0)
      fail_with = ->(msg) { raise StepFailed, "step #{i} (#{JSON.generate(step)}): #{msg}" }
      case step["op"]
      when "request" then step.fetch("n", 1).times { worker[slot].begin_request; worker[slot].end_request }
      when "begin"
        name = step["ticket"]
        next worker[slot].begin_request if name.nil?

        t = worker[slot].begin_ticket
        if step.key?("last") && (t & WorkerLife::TICKET_LAST != 0) != step["last"]
          fail_with.call("last is #{!step['last']}, expected #{step['last']}")
        end
        tickets[name] = t
      when "end"
        name = step["ticket"]
        next worker[slot].end_request if name.nil?

        # A name never issued is the number the step gives.
        t = tickets.fetch(name) { step["raw"] || fail_with.call("no ticket #{name.inspect}") }
        begin
          worker[slot].end_ticket(t)
        rescue WorkerLife::Error => e
          fail_with.call(e.message) unless step["refused"] == true
        else
          fail_with.call("ended, expected refused") if step["refused"] == true
        end
      when "overdue"
        got = worker[slot].overdue
        names = tickets.select { |_, t| got.include?(t & ~WorkerLife::TICKET_LAST) }.keys.sort
        want = step.fetch("expect").grep(String).sort
        if names != want || got.size != want.size
          fail_with.call("overdue #{names} (#{got.size} tickets), expected #{want}")
        end
      when "advance" then pool.advance((step["secs"] * 1e6).round / 1e6)
      when "health" then worker[slot].report_health(rss: step["rss"], uss: step["uss"], pss: step["pss"], fds: step["fds"])
      when "container" then pool.report_container(working_set: step["working_set"], limit: step["limit"])
      when "heartbeat" then worker[slot].heartbeat
      when "on_event_loop" then worker[slot].on_event_loop
      when "check" then worker[slot].check(step["ok"])
      when "recycle" then pool.recycle(slot)
      when "exiting" then worker[slot].exiting
      when "ready" then pool.ready(slot)
      when "spawned" then pool.spawned(slot, pid_of(step))
      when "claim"
        w = pool.claim(pid_of(step))
        claimed = w.slot
        w.close
        fail_with.call("claimed slot #{claimed}, expected #{slot}") if step.key?("slot") && claimed != slot
      when "exited" then pool.exited_slot(slot, step.fetch("status", 0))
      when "expect"
        d = pool.decision(slot)
        fail_with.call("action is #{d.action} (reason #{d.reason}), expected #{step['action']}") if d.action.to_s != step["action"]
        fail_with.call("reason is #{d.reason}, expected #{step['reason']}") if step.key?("reason") && d.reason.to_s != step["reason"]
        # A continue with a reason is a rule rehearsed (`enforce`): would?, and never must_exit?.
        would = step["action"] == "continue" && step.key?("reason")
        fail_with.call("would? is #{d.would?}, expected #{would} (#{d.text})") if step.key?("reason") && d.would? != would
        fail_with.call("must_exit? is #{d.must_exit?} (#{d.text})") if d.must_exit? != (step["action"] != "continue")
      when "tick"
        got = pool.tick.map { |a| [a.action.to_s, a.slot, a.reason&.to_s, a.replaces] }
        left = got.dup
        step["expect"].each do |w|
          k = left.index do |g|
            g[0] == w["action"] && g[1] == w.fetch("slot", 0) &&
              (!w.key?("reason") || g[2] == w["reason"]) && (!w.key?("replaces") || g[3] == w["replaces"])
          end
          fail_with.call("tick returned #{got}, missing #{w}") if k.nil?
          left.delete_at(k)
        end
        fail_with.call("tick returned #{got}, unexpected #{left}") unless left.empty?
      when "growth"
        g = pool.stats["per_slot"][slot]["growth"]
        if step["none"]
          fail_with.call("growth is #{g}, expected none") unless g.nil?
        else
          GROWTH_FIELDS.each do |key|
            next unless step.key?(key)

            fail_with.call("growth #{key} is #{g[key]}, expected #{step[key]}") unless same_number(g[key], step[key])
          end
        end
      when "next_spawn"
        s = pool.next_spawn_in
        got = s&.*(1e6)&.round
        want = step["secs"]&.*(1e6)&.round
        fail_with.call("next spawn in #{got} µs, expected #{want}") if got != want
      else
        fail_with.call("unknown op #{step['op'].inspect}")
      end
    end
  ensure
    handles&.each_value(&:close)
    pool&.close
  end
end
