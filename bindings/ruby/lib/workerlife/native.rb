# frozen_string_literal: true

require "ffi"

module WorkerLife
  # The C ABI through the ffi gem. Every declaration mirrors
  # include/workerlife.h; the ABI version, each struct's size and each
  # field's offset are checked against the library's own answers at load,
  # so a library whose structs changed (even two fields of one size
  # swapped) is refused instead of misread.
  module Native
    extend FFI::Library

    # The ABI this binding was written for (the header's WL_ABI_VERSION).
    ABI_VERSION = 2
    FILE_NAME = "libworkerlife.so"

    # This machine as RubyGems names platforms: a platform gem holds its
    # library at lib/workerlife/PLATFORM/libworkerlife.so.
    def self.platform
      Gem::Platform.local.to_s
    end

    # The library to load and where it comes from, in this order:
    # WORKERLIFE_LIB; the gem's own library for this platform (the platform
    # gem's, or the one the source gem built at install); in the repository,
    # the one `make lib` builds; else the system loader's libworkerlife.so.
    # A gem that holds the library for another platform only is refused
    # here rather than passed over for whatever else is found.
    def self.locate(env = ENV, here = __dir__)
      given = env["WORKERLIFE_LIB"]
      return [given, "WORKERLIFE_LIB"] if given && !given.empty?

      own = [here]
      spec = defined?(Gem.loaded_specs) && Gem.loaded_specs["workerlife"]
      own << File.join(spec.extension_dir, "workerlife") if spec && File.expand_path(here).start_with?(spec.full_gem_path)
      own.each do |dir|
        path = File.join(dir, platform, FILE_NAME)
        return [path, "the gem's library for #{platform}"] if File.exist?(path)
      end
      held = Dir[File.join(here, "*", FILE_NAME)].map { |f| File.basename(File.dirname(f)) }
      unless held.empty?
        raise LoadError, "workerlife: this gem holds the library for #{held.join(', ')}, but this machine is #{platform}: " \
                         "install the gem for #{platform} if there is one, or the source gem, which builds it with " \
                         "cargo (gem install workerlife --platform ruby); or set WORKERLIFE_LIB"
      end
      root = File.expand_path("../../../..", here)
      repo = File.join(root, "target/release", FILE_NAME)
      return [repo, "the repository's build"] if File.exist?(File.join(root, "bindings/ruby/workerlife.gemspec")) && File.exist?(repo)

      [FILE_NAME, "the system loader"]
    end

    # The bytes a 64-bit little-endian ELF file at `path` must have to hold
    # what its headers describe (its segments and section headers), and its
    # size; nil for another file (dlopen judges it). glibc maps a truncated
    # library's segments past its end and dies of SIGBUS touching them, so
    # such a file is refused before dlopen sees it.
    def self.elf_extent(path)
      File.open(path, "rb") do |f|
        size = f.size
        head = f.read(64)
        return nil unless head && head.bytesize == 64 && head.start_with?("\x7fELF\x02\x01".b)

        phoff, shoff = head.unpack("@32Q<Q<")
        phentsize, phnum, shentsize, shnum = head.unpack("@54S<S<S<S<")
        need = [shoff + (shentsize * shnum), phoff + (phentsize * phnum)].max
        if phentsize >= 56 && phoff + (phentsize * phnum) <= size # 56: an ELF64 program header
          f.seek(phoff)
          phnum.times do
            offset, filesz = f.read(phentsize).unpack("@8Q<@32Q<")
            need = [need, offset + filesz].max
          end
        end
        [need, size]
      end
    end

    # Opens the library at `path` and checks its ABI version before a
    # function of it is bound, so that another library (or another ABI)
    # is named as such rather than as a missing symbol.
    def self.open(path, origin)
      raise LoadError, "workerlife: cannot load the library #{path} (#{origin}): not found" if path.include?("/") && !File.exist?(path)

      need, size = File.file?(path) && elf_extent(path)
      if need && size < need
        raise LoadError, "workerlife: cannot load the library #{path} (#{origin}): truncated " \
                         "(#{size} bytes; its ELF headers describe #{need})"
      end

      begin
        ffi_lib path
        attach_function :wl_abi_version, [], :uint32
      rescue LoadError => e # FFI::NotFoundError is one: a library without wl_abi_version
        raise LoadError, "workerlife: cannot load the library #{path} (#{origin}): #{e.message}" \
                         "#{origin == 'the system loader' ? ' (install the workerlife gem for this platform, or set WORKERLIFE_LIB)' : ''}"
      end
      abi = wl_abi_version
      return if abi == ABI_VERSION

      raise LoadError, "workerlife: the library #{path} (#{origin}) has ABI version #{abi}, " \
                       "this gem needs ABI version #{ABI_VERSION}: use the library of this gem's version"
    end

    # The file loaded (as given to the loader) and where it came from.
    LIBRARY, ORIGIN = locate
    open(LIBRARY, ORIGIN)

    class PoolOptions < FFI::Struct
      layout :slots, :uint32, :sharing, :uint32, :path, :pointer,
             :manual_clock, :bool, :has_seed, :bool, :seed, :uint64
    end

    class Decision < FFI::Struct
      layout :action, :uint32, :reason, :uint32, :value, :uint64, :limit, :uint64
    end

    class PoolAction < FFI::Struct
      layout :kind, :uint32, :slot, :uint32, :pid, :uint32, :reason, :uint32,
             :generation, :uint32, :replaces, :uint32, :identity, :uint64, :not_before_us, :uint64
    end

    class Event < FFI::Struct
      layout :kind, :uint32, :slot, :uint32, :pid, :uint32, :generation, :uint32, :reason, :uint32,
             :status, :int32, :has_status, :bool, :crash, :bool, :oom_killed, :bool,
             :at_us, :uint64, :uptime_us, :uint64, :requests, :uint64, :rss, :uint64, :delay_us, :uint64,
             :growth_per_request, :double, :growth_per_second, :double,
             :growth_requests, :uint64, :growth_seconds, :double, :value, :uint64, :limit, :uint64
    end

    class Health < FFI::Struct
      layout :rss, :uint64, :uss, :uint64, :pss, :uint64, :fds, :uint64
    end

    class ContainerReading < FFI::Struct
      layout :limit, :uint64, :working_set, :uint64, :anon, :uint64, :file, :uint64,
             :oom_kills, :uint64, :pressure_some_avg10, :double
    end

    class Sample < FFI::Struct
      layout :pid, :uint32, :start_time, :uint64, :rss, :uint64, :fds, :uint64, :uss, :uint64, :pss, :uint64
    end

    STRUCTS = {
      "wl_pool_options" => PoolOptions, "wl_decision" => Decision, "wl_pool_action" => PoolAction,
      "wl_event" => Event, "wl_health" => Health, "wl_container_reading" => ContainerReading,
      "wl_sample" => Sample,
    }.freeze

    R = :uint32 # wl_result

    attach_function :wl_layout_version, [], :uint32
    attach_function :wl_struct_size, [:string], :size_t
    attach_function :wl_struct_offset, [:string, :string], :size_t
    attach_function :wl_constant, [:string, :pointer], R
    attach_function :wl_version, [], :string
    attach_function :wl_result_name, [:uint32], :string
    attach_function :wl_last_error_text, [], :string
    attach_function :wl_decision_string, [Decision.by_ref], :string
    attach_function :wl_action_name, [:uint32], :string
    attach_function :wl_reason_name, [:uint32], :string
    attach_function :wl_pool_action_kind_name, [:uint32], :string
    attach_function :wl_event_kind_name, [:uint32], :string
    attach_function :wl_event_string, [Event.by_ref], :string
    attach_function :wl_event_severity, [Event.by_ref], :uint32
    attach_function :wl_string_free, [:pointer], :void

    # The host contract: capability bits by name, the policy checked
    # against a host, the pool-size rule.
    attach_function :wl_host_capability, [:string], :uint32
    attach_function :wl_policy_check_host, [:pointer, :string, :uint32], R
    attach_function :wl_host_slots, [:uint32, :uint32, :pointer, :pointer], R

    attach_function :wl_policy_parse, [:string, :pointer], R
    attach_function :wl_policy_free, [:pointer], R
    attach_function :wl_policy_to_string, [:pointer, :pointer, :size_t, :pointer], R
    attach_function :wl_policy_get_raw, [:pointer, :uint32, :pointer], R
    attach_function :wl_key_name, [:uint32], :string
    attach_function :wl_key_unit, [:uint32], :uint32
    attach_function :wl_unit_name, [:uint32], :string
    attach_function :wl_key_is_number, [:uint32, :uint64], :bool
    attach_function :wl_key_format_value, [:uint32, :uint64, :pointer, :size_t, :pointer], R

    attach_function :wl_pool_build, [:pointer, PoolOptions.by_ref, :pointer], R
    attach_function :wl_pool_create, [:string, :pointer, :uint32, :pointer], R
    attach_function :wl_pool_attach, [:string, :pointer], R
    attach_function :wl_pool_open, [:string, :pointer, :uint32, :pointer], R
    attach_function :wl_pool_remove_if_last, [:pointer, :pointer], R
    attach_function :wl_pool_free, [:pointer], R
    attach_function :wl_pool_slot_count, [:pointer, :pointer], R
    attach_function :wl_pool_worker, [:pointer, :uint32, :pointer], R
    attach_function :wl_pool_claim, [:pointer, :uint32, :pointer], R
    attach_function :wl_pool_spawned, [:pointer, :uint32, :uint32], R
    attach_function :wl_pool_ready, [:pointer, :uint32], R
    attach_function :wl_pool_adopt, [:pointer, :uint32], R
    attach_function :wl_pool_exiting, [:pointer, :uint32, :pointer], R
    attach_function :wl_pool_exited, [:pointer, :uint32, :int32, :pointer], R
    attach_function :wl_pool_exited_slot, [:pointer, :uint32, :int32], R
    attach_function :wl_pool_recycle, [:pointer, :uint32], R
    attach_function :wl_pool_decision, [:pointer, :uint32, Decision.by_ref], R
    attach_function :wl_pool_tick, [:pointer, :pointer, :size_t, :pointer], R
    attach_function :wl_pool_events, [:pointer, :pointer, :size_t, :pointer], R
    attach_function :wl_pool_stats_text, [:pointer, :uint32, :pointer], R
    attach_function :wl_pool_set_host, [:pointer, :string, :uint32], R
    attach_function :wl_pool_startup_line, [:pointer, :pointer], R
    attach_function :wl_pool_round_error, [:pointer, :string, :pointer], R
    attach_function :wl_pool_adopt_all, [:pointer, :pointer, :size_t, :pointer], R
    attach_function :wl_pool_report_container, [:pointer, ContainerReading.by_ref], R
    attach_function :wl_pool_read_parent, [:pointer, :pointer], R
    attach_function :wl_pool_report_parent, [:pointer, :uint32, Health.by_ref], R
    attach_function :wl_pool_advance, [:pointer, :uint64], R
    attach_function :wl_pool_next_spawn_in, [:pointer, :pointer, :pointer], R

    attach_function :wl_worker_free, [:pointer], R
    attach_function :wl_worker_begin_flag, [:pointer], :int32
    attach_function :wl_worker_end_flag, [:pointer], :int32
    attach_function :wl_worker_begin_ticket_value, [:pointer], :int64
    attach_function :wl_worker_end_ticket_flag, [:pointer, :uint64], :int32
    attach_function :wl_worker_overdue, [:pointer, :pointer, :size_t, :pointer], R
    attach_function :wl_worker_heartbeat, [:pointer], R
    attach_function :wl_worker_on_event_loop, [:pointer], R
    attach_function :wl_worker_report_health, [:pointer, Health.by_ref], R
    attach_function :wl_worker_check, [:pointer, :bool], R
    attach_function :wl_worker_decision, [:pointer, Decision.by_ref], R
    attach_function :wl_worker_requests, [:pointer, :pointer], R
    attach_function :wl_worker_slot, [:pointer, :pointer], R
    attach_function :wl_worker_exiting, [:pointer], R
    attach_function :wl_worker_watchdog, [:pointer, :int32, :uint32, :pointer], R
    attach_function :wl_watchdog_wake, [:pointer], R
    attach_function :wl_watchdog_detach, [:pointer], R
    attach_function :wl_watchdog_free, [:pointer], R

    attach_function :wl_signal, [:uint32, :uint64, :int32], R

    # The stats endpoint, served by a thread of the library.
    attach_function :wl_metrics_serve, [:pointer, :string, :pointer], R
    attach_function :wl_metrics_port, [:pointer, :pointer], R
    attach_function :wl_metrics_free, [:pointer], R

    # Refuses (LoadError) a struct declared here that the library lays out
    # otherwise: another size, or a field at another offset.
    def self.check_layout(name, type)
      theirs = wl_struct_size(name)
      unless theirs == type.size
        raise LoadError, "workerlife: #{name} is #{theirs} bytes in the library, #{type.size} here: rebuild the binding"
      end

      type.members.each do |field|
        theirs = wl_struct_offset(name, field.to_s)
        ours = type.offset_of(field)
        next if theirs == ours

        raise LoadError, "workerlife: #{name}.#{field} is at offset #{theirs} in the library, #{ours} here: rebuild the binding"
      end
    end

    STRUCTS.each { |name, type| check_layout(name, type) }

    # An installed gem's version is its library's (the build stamps it from
    # the workspace): a gem whose own library says another is refused.
    def self.check_version(gem_version, library_version)
      return if gem_version.nil? || gem_version == library_version

      raise LoadError, "workerlife: the gem is version #{gem_version}, its library #{LIBRARY} is #{library_version}: reinstall the gem"
    end

    spec = defined?(Gem.loaded_specs) && Gem.loaded_specs["workerlife"]
    if spec && ORIGIN.start_with?("the gem's") && File.expand_path(__dir__).start_with?(spec.full_gem_path)
      check_version(spec.version.to_s, wl_version)
    end

    # The header's #define `name`, from the library (wl_constant).
    def self.constant(name)
      value = FFI::MemoryPointer.new(:uint64)
      rc = wl_constant(name, value)
      raise LoadError, "workerlife: the library has no constant #{name} (result #{rc})" unless rc.zero?

      value.read(:uint64)
    end

    # wl_pool_stats_text's formats (the header's WL_STATS_*).
    STATS_JSON = constant("WL_STATS_JSON")
    STATS_JSON_OCCUPIED = constant("WL_STATS_JSON_OCCUPIED")
    STATS_PROMETHEUS = constant("WL_STATS_PROMETHEUS")

    # The header's WL_TICKET_LAST (set in a ticket whose request should be
    # the worker's last) and WL_TICKETS (requests a slot times at once).
    TICKET_LAST = constant("WL_TICKET_LAST")
    TICKETS = constant("WL_TICKETS")
  end
end
