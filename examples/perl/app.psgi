# A leaking app behind Plack::Middleware::WorkerLife, to try by hand:
#
#   make perl
#   PERL5LIB=bindings/perl/blib/arch:bindings/perl/blib/lib starman --workers 4 --preload-app examples/perl/app.psgi
#   for i in $(seq 500); do curl -s localhost:5000/; done; curl -s localhost:5000/_workerlife
#
# Each request keeps 512 KiB; children leave at 64 MiB or 300 requests,
# one at a time, and say why on stderr.
use strict;
use warnings;
use Plack::Builder;

my @cache;
my $app = sub {
    push @cache, "x" x (512 << 10);
    my $body = "pid $$ holds " . scalar(@cache) / 2 . " MiB\n";
    return [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]];
};

builder {
    enable 'WorkerLife',
        policy     => 'max_rss=64MiB,max_requests=300,max_requests_jitter=50,sample_interval=100ms',
        stats_path => '/_workerlife';
    $app;
};
