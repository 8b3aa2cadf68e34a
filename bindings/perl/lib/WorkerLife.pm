package WorkerLife;

# The Perl binding: libworkerlife's C ABI as XS methods (WorkerLife.xs) in
# the packages below. Thin: every rule lives in the library; the XS
# converts and checks arguments, builds results and croaks with the
# library's messages. This file loads it and declares what XS does not:
# the overloads of policies and decisions.

use strict;
use warnings;
use JSON::PP ();    # Pool::stats decodes the library's JSON with it
use XSLoader;

# Loaded before $VERSION exists: the XS module's version check would read
# it undefined (the version is the library's, known once loaded).
BEGIN { XSLoader::load('WorkerLife') }

# The version is the library's (Cargo.toml's), not a copy.
our $VERSION = library_version();
# The library file this module is linked with.
our $LIBRARY = library_path();

# The result code of the last failed call, for callers that branch on it
# (the constants WorkerLife::WL_UNKNOWN_PID and so on name them).
our $ERROR_CODE = 0;

# Filled at load time from the library, number => name (undef where a
# number names nothing): @ACTIONS, @REASONS, @POOL_ACTIONS, @EVENTS,
# @SHARING.
our (@ACTIONS, @REASONS, @POOL_ACTIONS, @EVENTS, @SHARING);

package WorkerLife::Policy;

use overload '""' => \&to_string, 'eq' => sub { "$_[0]" eq "$_[1]" }, fallback => 1;

package WorkerLife::Decision;

use overload '""' => \&to_string, 'bool' => \&must_exit, fallback => 1;

1;

__END__

=head1 NAME

WorkerLife - when a server's worker processes must be recycled, why, and how

=head1 SYNOPSIS

  use WorkerLife;
  my $pool = WorkerLife::Pool->new(
      policy => 'max_requests=1000,max_rss=300MiB', slots => 8, shared => 1);
  # in a worker, after fork:
  my $w = $pool->claim;            # by $$
  $w->begin;  ...;  if ($w->end) { finish the response, then exit }
  # several requests at once in a worker (threads, an event loop):
  my $t = $w->begin_ticket;  ...;  if ($w->end_ticket($t)) { ... }
  # in a master:
  for my $a ($pool->tick) { WorkerLife::kill($a->{pid}, 'TERM', $a->{identity}) ... }

Objects an ithread inherits work in it (the library's handles are
thread-safe); only the original frees its handle. See the repository's
docs/perl.md for every method.

=cut
