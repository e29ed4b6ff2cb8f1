#!/usr/bin/perl
# SPDX-License-Identifier: MIT
#
# sa_lists.pl uris|text RULES_DIR SITE_DIR PREFS FILE... - what
# SpamAssassin makes of each message, for test_agreement.py to compare
# with filter_test --uris / --text:
#   uris  "file PATH", then "uri U" for each entry of get_uri_list(), the
#         URIs its uri rules are matched against;
#   text  "file PATH", "text N", then the N bytes of the body text its
#         body rules read (get_decoded_stripped_body_text_array(), joined).
# All in UTF-8.
use strict;
use warnings;
use Mail::SpamAssassin;
use Mail::SpamAssassin::PerMsgStatus;

my ($mode, $rules, $site, $prefs, @files) = @ARGV;
die "usage: sa_lists.pl uris|text RULES SITE PREFS FILE...\n"
    unless defined $prefs && ($mode eq 'uris' || $mode eq 'text');
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
    if ($mode eq 'uris') {
        # URIs of the HTML are characters, those of the text UTF-8 octets
        # already: all as UTF-8, what facteur's rules match
        for my $uri (sort $pms->get_uri_list()) {
            utf8::encode($uri) if utf8::is_utf8($uri);
            print "uri $uri\n";
        }
    } else {
        my $text = join('', @{$pms->get_decoded_stripped_body_text_array()});
        utf8::encode($text) if utf8::is_utf8($text);
        print "text ", length($text), "\n", $text, "\n";
    }
    $pms->finish();
    $mail->finish();
}
