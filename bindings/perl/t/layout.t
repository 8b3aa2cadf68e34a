# The pack templates WorkerLife.pm uses for the C structs must match the
# header: a C program fills each struct with known values and prints its
# bytes, and the template must unpack them to the same values.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use File::Temp qw(tempdir);
use Test::More;
use WorkerLife;

my $repo = "$FindBin::Bin/../../..";
my $dir = tempdir(CLEANUP => 1);
open my $src, '>', "$dir/layout.c" or die $!;
print $src <<'C';
#include <stdio.h>
#include <string.h>
#include "workerlife.h"
static void dump(const char *name, const void *p, size_t n) {
  printf("%s ", name);
  for (size_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]);
  printf("\n");
}
int main(void) {
  wl_decision d; memset(&d, 0, sizeof d);
  d.action = 1; d.reason = 10; d.value = 1000; d.limit = 999;
  dump("decision", &d, sizeof d);
  wl_pool_action a; memset(&a, 0, sizeof a);
  a.kind = 3; a.slot = 4; a.pid = 5; a.reason = 6; a.generation = 7; a.replaces = 10; a.identity = 8;
  a.not_before_us = 9;
  dump("action", &a, sizeof a);
  wl_event e; memset(&e, 0, sizeof e);
  e.kind = 1; e.slot = 2; e.pid = 3; e.generation = 4; e.reason = 5; e.status = -6; e.has_status = 1;
  e.crash = 1; e.at_us = 7; e.uptime_us = 8; e.requests = 9; e.rss = 10; e.delay_us = 11;
  e.growth_per_request = 12.5; e.growth_per_second = 13.25;
  dump("event", &e, sizeof e);
  wl_sample s; memset(&s, 0, sizeof s);
  s.pid = 1; s.start_time = 2; s.rss = 3; s.fds = 4; s.uss = 5; s.pss = 6;
  dump("sample", &s, sizeof s);
  wl_health h = { 1, 2, 3, 4 };
  dump("health", &h, sizeof h);
  wl_pool_options o; memset(&o, 0, sizeof o);
  o.slots = 1; o.sharing = 2; o.path = (const char *)(size_t)3; o.manual_clock = 1; o.has_seed = 1; o.seed = 5;
  dump("options", &o, sizeof o);
  return 0;
}
C
close $src;
my $cc = $ENV{CC} // 'cc';
system($cc, '-std=c11', '-Wall', '-Wextra', '-Werror', "-I$repo/include", "$dir/layout.c", '-o', "$dir/layout") == 0
    or BAIL_OUT("cannot compile the layout probe with $cc");
my %bytes = map { my ($n, $h) = split ' '; ($n => pack('H*', $h)) } `$dir/layout`;

my %want = (
    decision => [1, 10, 1000, 999],
    action   => [3, 4, 5, 6, 7, 10, 8, 9],
    event    => [1, 2, 3, 4, 5, -6, 1, 1, 7, 8, 9, 10, 11, 12.5, 13.25],
    sample   => [1, 2, 3, 4, 5, 6],
    health   => [1, 2, 3, 4],
    options  => [1, 2, 3, 1, 1, 5],
);
for my $name (sort keys %want) {
    my $t = $WorkerLife::Raw::LAYOUT{$name};
    is(length(pack $t, (0) x @{ $want{$name} }), length $bytes{$name}, "$name: size");
    is_deeply([ unpack $t, $bytes{$name} ], $want{$name}, "$name: fields");
}
done_testing;
