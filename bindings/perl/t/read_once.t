# Arguments are read once: a tied key or value given to
# WorkerLife::Policy->new is fetched once, and that value is the one used.
use strict;
use warnings;
use Test::More;
use WorkerLife;

package Counted {
    sub TIESCALAR { my ($class, $value) = @_; bless { value => $value, fetches => 0 }, $class }
    sub FETCH { my $self = shift; $self->{fetches}++; $self->{value} }
    sub STORE { die 'read only' }
}

for my $value ('300MiB', 1000) {
    my $key = $value =~ /MiB/ ? 'max_rss' : 'max_requests';
    tie my $v, 'Counted', $value;
    tie my $k, 'Counted', $key;
    my $p = WorkerLife::Policy->new($k, $v, max_surge => 1);
    is(tied($v)->{fetches}, 1, "$key: the value is fetched once");
    is(tied($k)->{fetches}, 1, "$key: the key is fetched once");
    is($p->get($key), $key eq 'max_rss' ? 300 * 2**20 : 1000, "$key: the value fetched is the one used");
}

done_testing;
