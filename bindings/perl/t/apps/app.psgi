# The test app: "/" answers "PID RSS"; "/leak" keeps 1 MiB more first;
# "/stream" streams its answer in three writes; "/hang" never answers. Policy from WL_TEST_POLICY.
use strict;
use warnings;
use Plack::Builder;

my @leaked;
my $page = 4096;

sub rss {
    open my $fh, '<', '/proc/self/statm' or return 0;
    my (undef, $resident) = split ' ', scalar <$fh>;
    return $resident * $page;
}

my $app = sub {
    my ($env) = @_;
    my $path = $env->{PATH_INFO};
    push @leaked, 'x' x (1 << 20) if $path eq '/leak';
    select undef, undef, undef, 3600 if $path eq '/hang';    # stuck in a system call
    if ($path eq '/stream') {
        return sub {
            my ($respond) = @_;
            my $w = $respond->([200, ['Content-Type' => 'text/plain']]);
            $w->write("$$ ");
            $w->write(rss());
            $w->write("\n");
            $w->close;
        };
    }
    my $body = "$$ " . rss() . "\n";
    return [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]];
};

builder {
    enable 'WorkerLife', policy => $ENV{WL_TEST_POLICY} // '', stats_path => '/_workerlife',
        pool => $ENV{WL_TEST_POOL};
    $app;
};
