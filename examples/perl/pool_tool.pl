#!/usr/bin/perl
# One of four pool tools (Rust, C, Python, Perl) that speak the same lines;
# see examples/pool_tool.rs for the protocol.
use strict;
use warnings;
use WorkerLife;

$| = 1;
my $pool = eval {
    if (@ARGV == 4 && $ARGV[0] eq 'create') {
        WorkerLife::Pool->create(path => $ARGV[1], policy => $ARGV[2], slots => $ARGV[3]);
    } elsif (@ARGV == 2 && $ARGV[0] eq 'attach') {
        WorkerLife::Pool->attach($ARGV[1]);
    } else {
        die "usage: pool_tool.pl create PATH POLICY SLOTS | pool_tool.pl attach PATH\n";
    }
};
if (!$pool) { (my $e = $@) =~ s/\s+\z//; print "error $e\n"; exit 1 }
print "ready\n";
while (my $line = <STDIN>) {
    my @w = split ' ', $line;
    my $reply = eval {
        if (@w == 3 && $w[0] eq 'work') {
            my $worker = $pool->slot($w[1]);
            for (1 .. $w[2]) { $worker->begin; $worker->end }
            'ok';
        } elsif (@w == 2 && $w[0] eq 'decision') {
            my $d = $pool->decision($w[1]);
            $d->action . " " . ($d->reason // "-");
        } elsif (@w == 1 && $w[0] eq 'stats') {
            $pool->stats_json;
        } else {
            die "unknown command \"@w\"\n";
        }
    };
    if (!defined $reply) { ($reply = "error $@") =~ s/\s+\z// }
    print "$reply\n";
}
