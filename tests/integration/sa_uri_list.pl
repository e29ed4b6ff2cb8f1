#!/usr/bin/perl
# SPDX-License-Identifier: MIT
#
# sa_uri_list.pl RULES_DIR SITE_DIR PREFS FILE... - print, for each
# message, "file PATH" and then "uri U" for each entry of SpamAssassin's
# get_uri_list(): the URIs its uri rules are matched against.  The
# counterpart of filter_test --uris (tests/integration/test_agreement.py),
# in UTF-8.
use strict;
use warnings;
use Mail::SpamAssassin;
use Mail::SpamAssassin::PerMsgStatus;

my ($rules, $site, $prefs, @files) = @ARGV;
my $sa = Mail::SpamAssassin->new({
    rules_filename => $rules,
    site_rules_filename => $site,
    userprefs_filename => $prefs,
    local_tests_only => 1,
    dont_copy_prefs => 1,
});
$sa->init(1);
binmode(STDOUT);
for my $file (@files) {
    open(my $fh, '<', $file) or die "$file: $!";
    binmode($fh);
    my @lines = <$fh>;
    close($fh);
    my $mail = $sa->parse(\@lines);
    my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $mail);
    $mail->extract_message_metadata($pms);
    print "file $file\n";
    # URIs of the HTML are characters, those of the text UTF-8 octets
    # already: all as UTF-8, what facteur's rules match
    for my $uri (sort $pms->get_uri_list()) {
        utf8::encode($uri) if utf8::is_utf8($uri);
        print "uri $uri\n";
    }
    $pms->finish();
    $mail->finish();
}
