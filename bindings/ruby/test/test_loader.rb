# frozen_string_literal: true

# Which library the gem loads (WORKERLIFE_LIB, the gem's own for this
# platform, the repository's build, the system's) and the LoadError that
# names the file and why when it cannot be used. Each load runs in a child
# Ruby, so the library this suite loaded stays.

require "minitest/autorun"
require "fileutils"
require "open3"
require "rbconfig"
require "tmpdir"
require "workerlife"

class TestLoader < Minitest::Test
  LIB = File.expand_path("../lib", __dir__)
  PLATFORM = Gem::Platform.local.to_s

  # The library file this process mapped (WorkerLife::Native::LIBRARY may be
  # a bare name the system loader resolved).
  def self.loaded_library
    File.foreach("/proc/self/maps").map { |l| l.split[5] }.compact.find { |f| File.basename(f).start_with?("libworkerlife") }
  end
  LOADED = loaded_library

  def setup
    @dir = Dir.mktmpdir("wl-loader-")
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  # `require "workerlife"` in a child Ruby with `lib` on its load path and
  # WORKERLIFE_LIB as given (nil: unset); prints the library and its origin.
  def load_in_child(lib: LIB, library: nil)
    code = 'require "workerlife"; puts WorkerLife::Native::LIBRARY, WorkerLife::Native::ORIGIN'
    Open3.capture3({ "WORKERLIFE_LIB" => library }, RbConfig.ruby, "-w", "-I", lib, "-e", code)
  end

  def refused(library)
    out, err, st = load_in_child(library: library)
    refute st.success?, "loaded #{library}: #{out}"
    line = err.lines.grep(/LoadError/).first
    assert line, "no LoadError: #{err}"
    assert_includes line, "workerlife: cannot load the library #{library} (WORKERLIFE_LIB)" unless line.include?("ABI")
    line
  end

  def cc(name, source)
    src = File.join(@dir, "#{name}.c")
    File.write(src, source)
    out = File.join(@dir, "#{name}.so")
    system(ENV.fetch("CC", "cc"), "-shared", "-fPIC", "-o", out, src, exception: true)
    out
  end

  def test_workerlife_lib_is_loaded_when_set
    copy = File.join(@dir, "libworkerlife.so")
    FileUtils.cp(LOADED, copy)
    out, err, st = load_in_child(library: copy)
    assert st.success?, err
    assert_equal [copy, "WORKERLIFE_LIB"], out.lines.map(&:chomp)
    assert_empty err, "ruby -w: no warning"
  end

  def test_a_missing_file_is_named_as_not_found
    line = refused(File.join(@dir, "nope", "libworkerlife.so"))
    assert_match(/: not found/, line)
  end

  # Half a library: its headers describe more than the file holds (glibc
  # would die of SIGBUS mapping it; the gem refuses it first).
  def test_a_truncated_library_is_named_as_truncated
    cut = File.join(@dir, "libworkerlife.so")
    File.binwrite(cut, File.binread(LOADED, File.size(LOADED) / 2))
    line = refused(cut)
    assert_match(/truncated \(#{File.size(cut)} bytes; its ELF headers describe \d+\)/, line)
  end

  def test_a_library_cut_inside_its_header_gets_dlopens_message
    cut = File.join(@dir, "libworkerlife.so")
    File.binwrite(cut, File.binread(LOADED, 40))
    assert_match(/file too short/, refused(cut))
  end

  def test_a_file_of_garbage_gets_dlopens_message
    junk = File.join(@dir, "libworkerlife.so")
    File.binwrite(junk, Random.new(7).bytes(65_536))
    assert_match(/invalid ELF header/, refused(junk))
  end

  def test_another_shared_library_is_named_as_lacking_the_abi_function
    other = cc("other", "int not_workerlife(void) { return 1; }\n")
    assert_match(/wl_abi_version/, refused(other))
  end

  def test_another_abi_version_says_both_numbers
    stub = cc("abi99", "unsigned wl_abi_version(void) { return 99; }\n")
    line = refused(stub)
    assert_includes line, "the library #{stub} (WORKERLIFE_LIB) has ABI version 99"
    assert_includes line, "this gem needs ABI version #{WorkerLife::Native::ABI_VERSION}"
  end

  # A copy of lib/ as an installed gem holds it, with `library` at
  # lib/workerlife/PLATFORM/libworkerlife.so.
  def gem_lib(platform, library)
    lib = File.join(@dir, "gem", "lib")
    FileUtils.mkdir_p(File.dirname(lib))
    FileUtils.cp_r(LIB, lib)
    held = File.join(lib, "workerlife", platform, "libworkerlife.so")
    FileUtils.mkdir_p(File.dirname(held))
    FileUtils.cp(library, held)
    [lib, held]
  end

  def test_a_gem_for_this_platform_loads_its_own_library
    lib, held = gem_lib(PLATFORM, LOADED)
    out, err, st = load_in_child(lib: lib)
    assert st.success?, err
    assert_equal [held, "the gem's library for #{PLATFORM}"], out.lines.map(&:chomp)
  end

  def test_a_gem_for_another_platform_says_which_it_holds_and_which_this_is
    lib, = gem_lib("aarch64-linux", LOADED)
    out, err, st = load_in_child(lib: lib)
    refute st.success?, out
    assert_includes err, "this gem holds the library for aarch64-linux, but this machine is #{PLATFORM}"
    assert_includes err, "gem install workerlife --platform ruby"
  end

  # The order, on a tree laid out as the repository is (its gemspec, its
  # target/release library) with a gem's library in it too.
  def test_the_order_is_workerlife_lib_the_gems_own_the_repositorys_the_systems
    here = File.join(@dir, "bindings/ruby/lib/workerlife")
    FileUtils.mkdir_p(File.join(here, PLATFORM))
    FileUtils.mkdir_p(File.join(@dir, "target/release"))
    FileUtils.touch(File.join(@dir, "bindings/ruby/workerlife.gemspec"))
    own = File.join(here, PLATFORM, "libworkerlife.so")
    repo = File.join(@dir, "target/release/libworkerlife.so")
    [own, repo].each { |f| FileUtils.touch(f) }
    locate = ->(env) { WorkerLife::Native.locate(env, here) }

    assert_equal ["/x/libworkerlife.so", "WORKERLIFE_LIB"], locate.call("WORKERLIFE_LIB" => "/x/libworkerlife.so")
    assert_equal [own, "the gem's library for #{PLATFORM}"], locate.call({})
    assert_equal [own, "the gem's library for #{PLATFORM}"], locate.call("WORKERLIFE_LIB" => ""), "empty is unset"
    File.delete(own)
    assert_equal [repo, "the repository's build"], locate.call({})
    File.delete(repo)
    assert_equal ["libworkerlife.so", "the system loader"], locate.call({})
  end

  def test_an_installed_gems_version_must_be_its_librarys
    WorkerLife::Native.check_version(nil, "0.1.0") # not an installed gem
    WorkerLife::Native.check_version(WorkerLife::VERSION, WorkerLife::VERSION)
    e = assert_raises(LoadError) { WorkerLife::Native.check_version("9.9.9", WorkerLife::VERSION) }
    assert_includes e.message, "the gem is version 9.9.9, its library #{WorkerLife::Native::LIBRARY} is #{WorkerLife::VERSION}"
  end
end
