# Hello world for the Starman benchmark; WL_BENCH_POLICY set: with the
# middleware.
use strict;
use warnings;
use Plack::Builder;

my $app = sub { [200, ['Content-Type' => 'text/plain', 'Content-Length' => 2], ['ok']] };
return $app unless defined $ENV{WL_BENCH_POLICY};
builder {
    enable 'WorkerLife', policy => $ENV{WL_BENCH_POLICY};
    $app;
};
