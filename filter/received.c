/* SPDX-License-Identifier: MIT */
/*
 * received - SpamAssassin's Received chain model, see received.h.
 *
 * parse_line() is Received.pm's parse_received_line() statement by
 * statement: its regular expressions (RX_LIST below, in its order) run in
 * PCRE2 on the unfolded field, with the same fall-through from one MTA
 * format to the next and the same skips (return 0) and failures (return
 * undef, counted as unparseable).  received_parse() is
 * parse_received_headers(): the trust boundary, then the four
 * "[ ip=... ]" strings.  Everything is bounded (fields, lengths, a PCRE2
 * match limit), so a hostile chain costs little and never more.
 */
#include "facteur-config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/received.h"
#include "filter/sa_rules.h"
#include "lib/log.h"
#include "lib/mem.h"

/* SpamAssassin 4.0.1's Constants.pm (IP_ADDRESS, LOCALHOST, IP_PRIVATE, IPV4_ADDRESS), comments and blanks of /x removed */
#define RX_IPA \
	"(?i:(?:\\b(?<!:)(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|" \
	"[1-9]\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1" \
	"-9]\\d|\\d)\\b|(?:IPv6:|(?<![a-f0-9:]))(?:(?:(?:[a-f0-9]{1,4}:){6}|::(?:[a-f0-9]{1," \
	"4}:){0,5}|(?:[a-f0-9]{1,4}:){1,5}:|[a-f0-9]{1,4}::(?:[a-f0-9]{1,4}:){1,4}|(?:[a-" \
	"f0-9]{1,4}:){2}:(?:[a-f0-9]{1,4}:){1,3}|(?:[a-f0-9]{1,4}:){3}:(?:[a-f0-9]{1,4}:)" \
	"{1,2}|(?:[a-f0-9]{1,4}:){4}:[a-f0-9]{1,4}:)(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)" \
	"\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\." \
	"(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)|(?:[a-f0-9]{1,4}:){7}[a-f0-9]{1,4}|:(?::[a" \
	"-f0-9]{1,4}){1,7}|(?:[a-f0-9]{1,4}:){1,7}:|[a-f0-9]{1,4}:(?::[a-f0-9]{1,4}){1,6}" \
	"|(?:[a-f0-9]{1,4}:){2}(?::[a-f0-9]{1,4}){1,5}|(?:[a-f0-9]{1,4}:){3}(?::[a-f0-9]{" \
	"1,4}){1,4}|(?:[a-f0-9]{1,4}:){4}(?::[a-f0-9]{1,4}){1,3}|(?:[a-f0-9]{1,4}:){5}(?:" \
	":[a-f0-9]{1,4}){1,2}|(?:[a-f0-9]{1,4}:){6}:[a-f0-9]{1,4}|::)(?![a-f0-9:])))"
#define RX_LH \
	"(?i:(?:localhost(?:\\.localdomain)?|\\b(?<!:)127\\.0\\.0\\.1\\b|(?:IPv6:|(?<![a-f0-9:]" \
	"))(?:(?:(?:0{1,4}:){5}ffff:|::(?:0{1,4}:){0,4}ffff:|(?:0{1,4}:){1,4}:ffff:|0{1,4" \
	"}::(?:0{1,4}:){1,3}ffff:|(?:0{1,4}:){2}:0{1,2}:ffff:|(?:0{1,4}:){3}:0:ffff:|(?:0" \
	"{1,4}:){4}:ffff:)127\\.0\\.0\\.1|(?:0{1,4}:){7}0{0,3}1|:(?::0{1,4}){0,6}:0{0,3}1|0{" \
	"1,4}:(?::0{1,4}){0,5}:0{0,3}1|(?:0{1,4}:){2}(?::0{1,4}){0,4}:0{0,3}1|(?:0{1,4}:)" \
	"{3}(?::0{1,4}){0,3}:0{0,3}1|(?:0{1,4}:){4}(?::0{1,4}){0,2}:0{0,3}1|(?:0{1,4}:){5" \
	"}(?::0{1,4}){0,1}:0{0,3}1|(?:0{1,4}:){6}:0{0,3}1)(?![a-f0-9:])))"
#define RX_PRIV \
	"(?i:^(?:(?:10|127|169\\.254|172\\.(?:1[6-9]|2[0-9]|3[01])|192\\.168|100\\.(?:6[4-9]|" \
	"[7-9][0-9]|1[01][0-9]|12[0-7]))\\..*|(?:(?:IPv6:|(?<![a-f0-9:]))(?:(?:(?:0{1,4}:)" \
	"{5}ffff:|::(?:0{1,4}:){0,4}ffff:|(?:0{1,4}:){1,4}:ffff:|0{1,4}::(?:0{1,4}:){1,3}" \
	"ffff:|(?:0{1,4}:){2}:0{1,2}:ffff:|(?:0{1,4}:){3}:0:ffff:|(?:0{1,4}:){4}:ffff:)(?" \
	":10|127|169\\.254|172\\.(?:1[6-9]|2[0-9]|3[01])|192\\.168|100\\.(?:6[4-9]|[7-9][0-9]" \
	"|1[01][0-9]|12[0-7]))\\..*|fe[89ab][0-9a-f]:.*|(?:0{1,4}:){7}0{0,3}1|:(?::0{1,4})" \
	"{0,6}:0{0,3}1|0{1,4}:(?::0{1,4}){0,5}:0{0,3}1|(?:0{1,4}:){2}(?::0{1,4}){0,4}:0{0" \
	",3}1|(?:0{1,4}:){3}(?::0{1,4}){0,3}:0{0,3}1|(?:0{1,4}:){4}(?::0{1,4}){0,2}:0{0,3" \
	"}1|(?:0{1,4}:){5}(?::0{1,4}){0,1}:0{0,3}1|(?:0{1,4}:){6}:0{0,3}1)(?![a-f0-9:])))" \
	")"
#define RX_IPV4 \
	"(?:\\b(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d" \
	")\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\" \
	"b)"

/* Received.pm's regular expressions, in its order (name, options, pattern) */
#define RX_LIST \
	X(FROM_START, PCRE2_CASELESS, \
	    "^\\(?from ") \
	X(WITH_LOCAL_FOR, 0, \
	    "\\bwith local for\\b") \
	X(FROM_BY_SEMI, PCRE2_CASELESS, \
	    "^from (\\S+) by [^\\s;]+ ?;") \
	X(BRACKET_V4, 0, \
	    "^\\[[\\d.]+\\]$") \
	X(DATE, 0, \
	    "[\\s;]+(?:(?:Mon|T(?:ue|hu)|Wed|Fri|S(?:at|un)), )?\\d+ (?:J(?:an|u[nl])|Feb|Ma[ry]|A(?:pr|ug)|Sep|Oct|Nov|Dec) \\d+ \\d+:\\d+(?::\\d+)? \\S+$") \
	X(ID, 0, \
	    " id <?([^\\s<>;]{3,})") \
	X(HELO_EQ, 0, \
	    "\\bhelo=([-A-Za-z0-9\\.\\^+_&:=?!@%*\\$\\\\\\/]+)(?:[^-A-Za-z0-9\\.\\^+_&:=?!@%*\\$\\\\\\/]|$)") \
	X(HELO_WORD, 0, \
	    "\\b(?:HELO|EHLO) ([-A-Za-z0-9\\.\\^+_&:=?!@%*\\$\\\\\\/]+)(?:[^-A-Za-z0-9\\.\\^+_&:=?!@%*\\$\\\\\\/]|$)") \
	X(BY, 0, \
	    " by (\\S+)(?:[^-A-Za-z0-9\\;\\.]|$)") \
	X(SP_BY_SP, 0, \
	    " by ") \
	X(AUTH_WITH, PCRE2_CASELESS, \
	    " with ((?:ES|L|UTF8S|UTF8L)MTPS?A|ASMTP|HTTP[SU]?)(?: |;|$)") \
	X(GMAIL_BY, 0, \
	    " by mx\\.google\\.com with ESMTPS id [a-z0-9]{1,4}sm[0-9]{2,9}[a-z]{3}\\.[0-9]{1,3}\\.[0-9]{4}\\.(?:[0-6][0-9]\\.){4}[0-6][0-9]") \
	X(GMAIL_VER, 0, \
	    "\\(version=([^ ]+) cipher=([^\\)]+)\\)") \
	X(COURIER_AUTH, 0, \
	    "^from .*?(?:\\]\\)|\\)\\]) \\(AUTH: (LOGIN|PLAIN|DIGEST-MD5|CRAM-MD5) \\S+(?:, .*?)?\\) by ") \
	X(AUTHENTICATED, 0, \
	    "authenticated") \
	X(SENDMAIL_AUTH, 0, \
	    "^from .*?(?:\\](?: \\([^)]*\\))?\\)|\\)\\]) .*?\\(.*?authenticated.*?\\).*? by") \
	X(GMX_AUTH, 0, \
	    "from \\S* \\((?:HELO|EHLO) (\\S*)\\) \\[(" RX_IPA ")\\] by (mail\\.gmx\\.(?:net|com)) \\([^\\)]+\\) with ((?:ESMTP|SMTP))") \
	X(CP_AUTH1, 0, \
	    " \\(authenticated as ") \
	X(CP_AUTH2, 0, \
	    "\\) by .+ \\(\\d{1,2}\\.\\d\\.\\d{3}(?:\\.\\d{1,3})?\\) \\(authenticated as .+\\) id ") \
	X(POSTFIX_AUTH, 0, \
	    "\\) \\(Authenticated sender: \\S+\\) by \\S+ \\(([^\\)]+)\\) with ") \
	X(CGP_AUTH1, 0, \
	    "CommuniGate Pro (HTTP|SMTP|XIMSS|IMAP)") \
	X(CGP_AUTH2, 0, \
	    " \\(account ") \
	X(DAV_AUTH, 0, \
	    " with Microsoft Exchange Server HTTP-DAV\\b") \
	X(VIA_HTTP, PCRE2_CASELESS, \
	    " \\(via (HTTP.?)\\)(?: |;|$)") \
	X(ENVFROM, PCRE2_CASELESS, \
	    "(?:return-path:? |envelope-(?:sender|from)[ =])(\\S+)\\b") \
	X(SQUIRREL, 0, \
	    " \\((?:SquirrelMail|NaSMail) authenticated user ") \
	X(SQUIRREL2, 0, \
	    "(" RX_IPA ")\\b(?![.-]).{10,80}by (\\S+) with HTTP") \
	X(AOL_COM, 0, \
	    "aol\\.com") \
	X(AOL_WEBMAILUI, 0, \
	    "with HTTP \\(WebMailUI\\)") \
	X(AOL_WEB, 0, \
	    "(" RX_IPA ") by (\\S+) \\(" RX_IPA "\\) with HTTP \\(WebMailUI\\)") \
	X(SMTPSVC, 0, \
	    " SMTPSVC") \
	X(SMTPSVC1, 0, \
	    "^(\\S*) \\(\\[(" RX_IPA ")\\][^\\)]{0,40}\\) by (\\S+) with Microsoft SMTPSVC") \
	X(SMTPSVC_PICKUP, 0, \
	    "^mail pickup service by (\\S+) with Microsoft SMTPSVC$") \
	X(MSSMTP, 0, \
	    " with (?:Microsoft SMTP Server|mapi id) (?:\\([^\\)]+\\) )?\\d+\\.\\d+\\.\\d+\\.\\d+(?:$| )") \
	X(MSSMTP1, 0, \
	    "^(\\S+) \\(\\[?(" RX_IPA ")(?:%[A-Z0-9._~-]*)?\\]?\\) by (\\S+) ") \
	X(XMAIL, 0, \
	    "\\[XMail ") \
	X(XMAIL1, 0, \
	    "^(\\S+) \\((\\[?" RX_IPA "\\]?)(?::\\d+)\\) by (\\S+)(?: \\(\\S+\\))? with \\[XMail") \
	X(XMAIL_ID, 0, \
	    " id <(\\S+)>") \
	X(XMAIL_FROM, 0, \
	    " from <(\\S+)>") \
	X(ECEL, 0, \
	    "\\(ecelerity\\b") \
	X(ECEL1, 0, \
	    "^\\(\\[(" RX_IPA "):\\d+\\] helo=(\\S+)\\) by (\\S+) ") \
	X(ECEL2, 0, \
	    "^\\S+ \\(\\[(" RX_IPA "):\\d+\\]\\) by (\\S+) ") \
	X(EXIM, 0, \
	    "Exim") \
	X(EXIM_LOCAL, 0, \
	    "\\bwith local(?:-\\S+)? ") \
	X(EXIM1, 0, \
	    "^\\[(" RX_IPA ")\\] \\((.*?)\\) by (\\S+) ") \
	X(SUB_HELO, 0, \
	    "helo=(\\S+)") \
	X(SUB_IDENT, 0, \
	    "ident=(\\S*)") \
	X(EXIM2, 0, \
	    "^(\\S+) \\(\\[(" RX_IPA ")\\](.*?)\\) by (\\S+) ") \
	X(EXIM3, 0, \
	    "^(\\S+) \\[(" RX_IPA ")\\](:\\d+)? by (\\S+) ") \
	X(EXIM_W1, 0, \
	    "^(\\S+) ") \
	X(EXIM_W2, 0, \
	    " \\((\\S+)\\) ") \
	X(EXIM_W3, 0, \
	    " \\[(" RX_IPA ")(?:\\.\\d+)?\\] ") \
	X(EXIM_W4, 0, \
	    "by (\\S+) ") \
	X(POSTFIX, 0, \
	    " \\(Postfix\\) with") \
	X(POSTFIX1, 0, \
	    "^(\\S+) \\((\\S+) \\[(" RX_IPA ")\\]\\) by (\\S+) ") \
	X(POSTFIX2, 0, \
	    "^(\\S+) \\((\\S+)\\[(" RX_IPA ")\\]\\) by (\\S+) ") \
	X(SCALIX, 0, \
	    "\\(Scalix SMTP Relay") \
	X(SCALIX1, 0, \
	    "^(\\S+) \\( ?(" RX_IPA ")\\) by (\\S+)") \
	X(DOMINO, 0, \
	    " \\(Lotus Domino ") \
	X(DOMINO1, 0, \
	    "^(\\S+) \\(\\[(" RX_IPA ")\\]\\) by (\\S+) \\(Lotus") \
	X(WITH_HTTP, 0, \
	    "\\bwith HTTP\\b") \
	X(HTTP1, 0, \
	    "^(" RX_IPA ") \\(\\[" RX_IPA "\\]\\) by (\\S+)") \
	X(QMAIL_LDAP, 0, \
	    " by \\S+ \\(qmail-\\S+\\) with ") \
	X(SENDMAIL1, 0, \
	    "^(\\S+) \\((\\S+) \\[(" RX_IPA ")\\].*\\) by (\\S+) \\(") \
	X(IDENT_STRIP1, 0, \
	    "^IDENT:([^\\@]*)\\@") \
	X(IDENT_STRIP2, 0, \
	    "^([^\\@]*)\\@") \
	X(EXCH55, 0, \
	    "^(\\S+) \\((\\S+) \\[(" RX_IPA ")\\]\\) by (\\S+) with \\S+ \\(") \
	X(GSI, 0, \
	    "^(\\S+) \\(\\[(" RX_IPA ")\\] helo=(\\S+)\\) by (\\S+) with ") \
	X(ATTBI1, 0, \
	    "^(\\S+) \\(<unknown\\S*>\\[(" RX_IPA ")\\]\\) by (\\S+) ") \
	X(ATTBI2, 0, \
	    "^(\\S+) \\((\\S+\\.\\S+)\\[(" RX_IPA ")\\]\\) by (\\S+) ") \
	X(IDENT_AT, 0, \
	    "^(\\S+) \\((\\S*)\\@\\[(" RX_IPA ")\\].*\\) by (\\S+) \\(") \
	X(HOTMAIL, 0, \
	    "by (\\S+\\.hotmail\\.msn\\.com) ") \
	X(LEAD_IP, 0, \
	    "^(" RX_IPA ") ") \
	X(QPSMTPD, 0, \
	    "^(\\S+) \\((?:HELO|EHLO) (\\S*)\\) \\((" RX_IPA ")\\) by (\\S+) \\(qpsmtpd\\/\\S+\\) with (?:ESMTP|SMTP)") \
	X(LHLO, 0, \
	    "^(\\S+) \\(LHLO (\\S*)\\) \\((" RX_IPA ")\\) by (\\S+) with LMTP") \
	X(GMX, 0, \
	    "^(\\S+) \\((?:HELO|EHLO) (\\S*)\\) \\[(" RX_IPA ")\\] by (\\S+) \\([^\\)]+\\) with (?:ESMTP|SMTP)") \
	X(SMTPD_FOR, 0, \
	    "^(\\S+) \\(\\[(" RX_IPA ")\\]\\) by (\\S+) via smtpd \\(for \\S+\\) with SMTP\\(") \
	X(QMAIL, 0, \
	    "^\\S+( \\((?:HELO|EHLO) \\S*\\))? \\((\\S+\\@)?\\[?" RX_IPA "\\]?\\)( \\(envelope-sender <\\S+>\\))? by \\S+( \\(.+\\))* with (.* )?(SMTP|QMQP)(?! id )") \
	X(QMAIL1, 0, \
	    "^(\\S+) \\((?:HELO|EHLO) ([^ \\(\\)]*)\\) \\((\\S*)\\@\\[?(" RX_IPA ")\\]?\\)( \\(envelope-sender <\\S+>\\))? by (\\S+)") \
	X(QMAIL2, 0, \
	    "^(\\S+) \\((?:HELO|EHLO) ([^ \\(\\)]*)\\) \\(\\[?(" RX_IPA ")\\]?\\)( \\(envelope-sender <\\S+>\\))? by (\\S+)") \
	X(QMAIL3, 0, \
	    "^(\\S+) \\((\\S*)\\@\\[?(" RX_IPA ")\\]?\\)( \\(envelope-sender <\\S+>\\))? by (\\S+)") \
	X(QMAIL4, 0, \
	    "^(\\S+) \\(\\[?(" RX_IPA ")\\]?\\)( \\(envelope-sender <\\S+>\\))? by (\\S+)") \
	X(VIA_HTTP_END, 0, \
	    " via HTTP$") \
	X(YAHOO_WEB, 0, \
	    "^\\[(" RX_IPA ")\\] by (\\S+) via HTTP$") \
	X(SPACE_BRACKET, 0, \
	    "^(\\S+) \\( \\[(" RX_IPA ")\\]\\).*? by (\\S+) ") \
	X(PAREN_RDNS, 0, \
	    "^\\((\\S+) \\[(" RX_IPA ")\\]\\) by (\\S+) ") \
	X(BRACKET_BY, 0, \
	    "^\\[(" RX_IPA ")\\] by (\\S+) ") \
	X(PAREN_IP_BY, 0, \
	    "^\\(\\[?(" RX_IPA ")\\]?\\) by (\\S+) ") \
	X(MDAEMON1, 0, \
	    "^(\\S+) \\[(" RX_IPA ")\\] by (\\S+) \\[" RX_IPA "\\] with ") \
	X(MDAEMON2, 0, \
	    "^(\\S+) \\[\\((" RX_IPA ")\\)\\] by (\\S+) \\(" RX_IPA "\\) ") \
	X(SENDMAIL2, 0, \
	    "^(\\S+) \\(\\[(" RX_IPA ")\\]\\) by (\\S+) \\(") \
	X(SENDMAIL3, 0, \
	    "^(\\S+) \\((\\S+) \\[(" RX_IPA ")\\]\\).*? by (\\S+)\\b") \
	X(SENDMAIL4, 0, \
	    "^(\\S+) \\(\\[(" RX_IPA ")(?:[.:]\\d+)?\\]\\).*? by (\\S+) ") \
	X(SENDMAIL5, 0, \
	    "^(\\S+) \\((\\S+) \\[(" RX_IPA ")\\]\\)(?: \\(authenticated bits=\\d+\\))? by (\\S+) \\(") \
	X(FETCHER, 0, \
	    "with (?:POP3|IMAP)") \
	X(QMAILISH1, 0, \
	    "^(\\S+) \\((?:HELO|EHLO) ([^\\)]*)\\) \\((\\S*@)?\\[?(" RX_IPA ")\\]?\\).* by (\\S+) ") \
	X(QMAILISH2, 0, \
	    "^(\\S+) \\((\\S*@)?\\[?(" RX_IPA ")\\]?\\).* by (\\S+) ") \
	X(HTTP_FOR1, 0, \
	    " with http for ") \
	X(HTTP_FOR2, 0, \
	    "^\\[(" RX_IPA ")\\] by (\\S+) with http for ") \
	X(SMAP, 0, \
	    " via smap ") \
	X(SMAP1, 0, \
	    "^(\\S+)\\((" RX_IPA ")\\) by (\\S+) via smap ") \
	X(SMAP2, 0, \
	    "^(\\S+)\\((" RX_IPA "), (?:HELO|EHLO) (\\S*)\\) by (\\S+) via smap ") \
	X(POST1, 0, \
	    " \\(Post") \
	X(POST2, 0, \
	    "^\\[(" RX_IPA ")\\] by (\\S+) \\(Post") \
	X(ARGO1, 0, \
	    " \\(ArGoSoft") \
	X(ARGO2, 0, \
	    "^\\[(" RX_IPA ")\\] by (\\S+) \\(ArGoSoft") \
	X(SMTPL, 0, \
	    "^(" RX_IPA ") by (\\S+) \\((?:SMTPL|InterScan)\\b") \
	X(BSMTP1, 0, \
	    " with BSMTP") \
	X(BSMTP2, 0, \
	    "^\\S+ by \\S+ with BSMTP") \
	X(SPIKE, 0, \
	    "^(\\S+) \\((\\S+) \\[(" RX_IPA ")\\]\\) by (\\S+) with ") \
	X(YAHOO_HELO, 0, \
	    "^(\\S+) \\((?:HELO|EHLO) (\\S*)\\) \\((?:(\\S+)\\@)?(" RX_IPA ").*?\\) by (\\S+) with ") \
	X(CGP1, 0, \
	    "^\\[(" RX_IPA ")\\] \\((?:account \\S+ )?(?:HELO|EHLO) (\\S*)\\) by (\\S+) \\(") \
	X(CGP2, 0, \
	    " \\(CommuniGate Pro") \
	X(CGP3, 0, \
	    "^(\\S+) \\(\\[(" RX_IPA ")\\] verified\\) by (\\S+) \\(") \
	X(CIPHERTRUST, 0, \
	    "^\\(\\[(" RX_IPA ")\\]\\) by (\\S+) with ") \
	X(IRONPORT, 0, \
	    "^([^\\d]\\S+) \\((" RX_IPA ")\\) by (\\S+) ") \
	X(CONTENTTECH, 0, \
	    "^\\S+ \\(\\S+\\) by \\S+ \\(Content Technologies ") \
	X(BLS, 0, \
	    "^(\\S+) \\(\\[(" RX_IPA ")\\] \\[(\\S+)\\]\\) by (\\S+) with ") \
	X(TUMBLEWEED, 0, \
	    "^(" RX_IPA ") by (\\S+) with ") \
	X(POBOX, 0, \
	    "^(\\S+) \\((\\S+)\\[(" RX_IPA ")\\]\\) by (\\S+) ") \
	X(FSECURE, 0, \
	    "^\\[(" RX_IPA ")\\]\\S+ \\((?:HELO|EHLO) (\\S*)\\) by (\\S+) ") \
	X(ALTAVISTA, 0, \
	    "^(" RX_IPA ") \\((?:HELO|EHLO) (\\S*)\\) by (\\S+) ") \
	X(SMTPD32, 0, \
	    "^(\\S+) \\[(" RX_IPA ")\\] by (\\S+) ") \
	X(CSMAP, 0, \
	    "^(\\S+)\\((" RX_IPA ")\\) by (\\S+) ") \
	X(MAILGATE, 0, \
	    "^\\[(" RX_IPA ")\\] by (\\S+) \\(MailGate ") \
	X(UNVERIFIED, 0, \
	    "^(\\S+) \\(unverified \\[(" RX_IPA ")\\]\\) by (\\S+) ") \
	X(IP_COMMENT, 0, \
	    "^(" RX_IPA ") \\([A-Za-z][^\\)]+\\) by (\\S+) with ") \
	X(BRACKET_SUB, 0, \
	    "^\\[(" RX_IPA ")\\] \\(([^\\)]+)\\) by (\\S+) ") \
	X(KDE, 0, \
	    "^(\\S+) \\((?:\\S+\\@)?(" RX_IPA ")\\) by (\\S+) with ") \
	X(OBTUSE, 0, \
	    "^(\\S+)\\((" RX_IPA ")\\)(?:, claiming to be \"(\\S+)\")? via \\S+ by (\\S+),") \
	X(YAHOO_LOGIN, 0, \
	    "^(\\S+) \\((\\S+)@(" RX_IPA ") with login\\) by (\\S+\\.yahoo\\.com) with SMTP") \
	X(XORIG, 0, \
	    "^X-Originating-IP: (" RX_IPA ")$") \
	X(IGN1, 0, \
	    "^\\S+ \\([^\\s\\@]+\\@" RX_LH "\\) by \\S+ \\(") \
	X(IGN2, 0, \
	    "^\\S+ \\S+ by \\S+ with local-e?smtp ") \
	X(IGN3, 0, \
	    "^127\\.0\\.0\\.1 \\(AVG SMTP \\S+ \\[\\S+\\]\\)") \
	X(IGN4, 0, \
	    "^\\S+\\@\\S+ by \\S+ by uid \\S+ ") \
	X(IGN5, 0, \
	    "^\\S+\\@\\S+ by \\S+ ") \
	X(IGN6, 0, \
	    "^Unknown\\/Local \\(") \
	X(IGN7, 0, \
	    "^" RX_LH " \\((?:\\S+\\@)?" RX_LH "[\\)\\[]") \
	X(IGN8, 0, \
	    "^\\S+ \\((?:\\S+\\@)?" RX_LH "\\) ") \
	X(IGN9, 0, \
	    "^\\S+ \\(\\S+\\@\\S+ \\[" RX_LH "\\]\\) ") \
	X(IGN10, 0, \
	    "^\\(AUTH: \\S+\\) by \\S+ with ") \
	X(IGN11, 0, \
	    "^localhost \\(localhost \\[\\[UNIX: localhost\\]\\]\\) by ") \
	X(IGN12, 0, \
	    "^\\S+\\.amazon\\.com by \\S+\\.amazon\\.com with ESMTP \\(peer crosscheck: ") \
	X(IGN13, 0, \
	    "^[^\\.]+ by \\S+ with Novell_GroupWise") \
	X(IGN14, 0, \
	    "^no\\.name\\.available by \\S+ via smtpd \\(for ") \
	X(QMS, 0, \
	    "^\\S+ by \\S+ \\(.{0,100}\\) with qmail-scanner") \
	X(IGN15, 0, \
	    "^\\S+ by \\S+ with local") \
	X(IGN16, 0, \
	    "^\\S+ \\(\\[unix socket\\]\\) by \\S+ \\(Cyrus v[0-9]*?\\.[0-9]*?\\.[0-9]*?\\) with LMTPA") \
	X(IGN17, 0, \
	    "^\\S+ by \\S+ (?:with|via|for|\\()") \
	X(IGN18, 0, \
	    "^\\S+ (?:(?:with|via|for) \\S+|\\(unverified\\)) by\\b") \
	X(IGN19, 0, \
	    "^\\S+ \\(unknown\\) by \\S+ \\(SG\\) with \\b") \
	X(IGN20, 0, \
	    "^\\S+ \\(\\S+ \\[local\\]\\) by \\S+ \\(OpenSMTPD\\) with \\b") \
	X(IGN21, 0, \
	    "\\(LSMTP for") \
	X(IGN22, 0, \
	    "^\\(\\[" RX_LH "\\]\\) with MailEnable ") \
	X(IGN23, 0, \
	    "^facebook\\.com \\([^\\)]+\\) by facebook\\.com with Thrift id \\S+$") \
	X(IGN24, 0, \
	    "^\\S+ named \\S+ by gmailapi\\.google\\.com with HTTPREST$") \
	X(IGN25, 0, \
	    "^\\S+ id \\S+$") \
	X(IGN26, 0, \
	    "^\\[<.*? \\(Jetsend") \
	X(GUESS_HELO, 0, \
	    "^(\\S+)[^-A-Za-z0-9\\.]") \
	X(SIMTA, 0, \
	    "^(\\S+) \\((\\S+) \\[(" RX_IPA ")\\]\\) BY (\\S+) (?:\\([^\\)]+\\) WITH SMTP )?ID <?(\\S+?)>?(?: FOR <[^>]+>)?$") \
	X(NAVGW, 0, \
	    "^(\\S*) \\[(" RX_IPA ")\\]\\) by (\\S+) \\(NAVGW .*?\\) with ") \
	X(SENDMAIL_T, 0, \
	    "^\\S+\\@localhost\\) by \\S+ ") \
	X(JQUEUE, 0, \
	    "^[^\\s\\@]+\\@[^)]+\\) by \\S+\\(jqueuemail\\) id [^\\s;]+") \
	X(ANY_BRACKET_IP, 0, \
	    "\\[(" RX_IPA ")\\]") \
	X(UNKNOWN_RDNS, PCRE2_CASELESS, \
	    "^unknown$") \
	X(IPV6_PREFIX, PCRE2_CASELESS, \
	    "^ipv6:") \
	X(SCOPE, PCRE2_CASELESS, \
	    "%[A-Z0-9._~-]*\\z") \
	X(MAPPED, PCRE2_CASELESS, \
	    "^0*:0*:(?:0*:)*ffff:(\\d+\\.\\d+\\.\\d+\\.\\d+)$") \
	X(IP_PRIVATE, 0, \
	    RX_PRIV) \
	X(IS_IPV4, 0, \
	    "^" RX_IPV4 "$") \
	X(IS_IP_PRIVATE, 0, \
	    "^" RX_PRIV "$") \
	X(NUM_DOMAIN, 0, \
	    "^\\w+(?:[\\w.-]+\\.)+\\w+$") \
	X(DOTCOM_HELO, PCRE2_CASELESS, \
	    "(?:\\.|^)(lycos\\.com|lycos\\.co\\.uk|hotmail\\.com|localhost\\.com|excite\\.com|caramail\\.com|cs\\.com|aol\\.com|msn\\.com|yahoo\\.com|drizzle\\.com)$") \
	X(FIND_IP, 0, \
	    "(" RX_IPA ")") \


enum rx_id {
#define X(name, opts, pat) RX_##name,
	RX_LIST
#undef X
	RX_COUNT
};

static const struct {
	const char *pattern;
	uint32_t options;
} rx_table[RX_COUNT] = {
#define X(name, opts, pat) { pat, opts },
	RX_LIST
#undef X
};

static pcre2_code *rx_code[RX_COUNT];
static pcre2_match_context *rx_mctx;
static pthread_once_t rx_once = PTHREAD_ONCE_INIT;
static pthread_key_t rx_md_key;

/* Backtracking steps allowed per match: hostile fields cost little. */
#define RX_MATCH_LIMIT 200000

static void
md_free(void *p)
{
	pcre2_match_data_free(p);
}

static void
rx_init(void)
{
	for (int i = 0; i < RX_COUNT; i++) {
		int err;
		PCRE2_SIZE off;

		rx_code[i] = pcre2_compile((PCRE2_SPTR)rx_table[i].pattern, PCRE2_ZERO_TERMINATED,
		    rx_table[i].options, &err, &off, NULL);
		if (rx_code[i] == NULL) {
			PCRE2_UCHAR msg[160];
			pcre2_get_error_message(err, msg, sizeof(msg));
			panic("received: pattern %d does not compile at %zu: %s", i, (size_t)off,
			    (const char *)msg);
		}
		(void)pcre2_jit_compile(rx_code[i], PCRE2_JIT_COMPLETE);
	}
	rx_mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(rx_mctx, RX_MATCH_LIMIT);
	pcre2_set_depth_limit(rx_mctx, 10000);
	if (pthread_key_create(&rx_md_key, md_free) != 0)
		panic("received: pthread_key_create");
}

#define RX_GROUPS 10

/* The result of one match: group n is s[ov[2n]..ov[2n+1]], unset when PCRE2_UNSET. */
struct rx_match {
	const char *s;
	PCRE2_SIZE ov[2 * RX_GROUPS];
};

/* Search s (len bytes) for pattern id; 1 found (m filled when given), 0 not. */
static int
rx(enum rx_id id, const char *s, size_t len, struct rx_match *m)
{
	pcre2_match_data *md;
	int rc;

	pthread_once(&rx_once, rx_init);
	if ((md = pthread_getspecific(rx_md_key)) == NULL) {
		md = pcre2_match_data_create(RX_GROUPS, NULL);
		if (md == NULL)
			panic("received: out of memory");
		(void)pthread_setspecific(rx_md_key, md);
	}
	rc = pcre2_match(rx_code[id], (PCRE2_SPTR)s, len, 0, 0, md, rx_mctx);
	if (rc < 0)
		return 0;
	if (m != NULL) {
		PCRE2_SIZE *v = pcre2_get_ovector_pointer(md);
		uint32_t n = pcre2_get_ovector_count(md);
		m->s = s;
		for (uint32_t i = 0; i < RX_GROUPS; i++) {
			if (i < n && (int)i < rc) {
				m->ov[2 * i] = v[2 * i];
				m->ov[2 * i + 1] = v[2 * i + 1];
			} else {
				m->ov[2 * i] = m->ov[2 * i + 1] = PCRE2_UNSET;
			}
		}
	}
	return 1;
}

static int
rxs(enum rx_id id, const char *s, struct rx_match *m)
{
	return rx(id, s, strlen(s), m);
}

static int
cap_set(const struct rx_match *m, int n)
{
	return m->ov[2 * n] != PCRE2_UNSET;
}

/* Copy group n of m into out (RECEIVED_FIELD_MAX bytes), "" when unset. */
static void
cap(const struct rx_match *m, int n, char *out)
{
	size_t len;

	if (!cap_set(m, n)) {
		out[0] = '\0';
		return;
	}
	len = m->ov[2 * n + 1] - m->ov[2 * n];
	if (len >= RECEIVED_FIELD_MAX)
		len = RECEIVED_FIELD_MAX - 1;
	memmove(out, m->s + m->ov[2 * n], len);
	out[len] = '\0';
}

/* s with bytes [from, to) removed; s is NUL-terminated. */
static void
cut(char *s, size_t from, size_t to)
{
	memmove(s + from, s + to, strlen(s + to) + 1);
}

/* $sub =~ s/PATTERN// and $out = $1: 1 when it matched. */
static int
sub_take(enum rx_id id, char *sub, char *out)
{
	struct rx_match m;

	if (!rxs(id, sub, &m))
		return 0;
	cap(&m, 1, out);
	cut(sub, m.ov[0], m.ov[1]);
	return 1;
}

int
received_ip_private(const char *ip)
{
	return rxs(RX_IP_PRIVATE, ip, NULL);
}

/* ---- one field: parse_received_line ---- */

enum line_result {
	LINE_UNPARSEABLE = -1,	/* undef */
	LINE_SKIP = 0,		/* return 0 */
	LINE_RELAY = 1,
	LINE_FETCHER = 2,	/* return 0 after found_pop_fetcher_sig() */
	LINE_QMAIL_SCANNER = 3,	/* return 0, envfrom kept for the next field */
};

/* Replace SpamAssassin's $strip_chars by '!'. */
static void
strip_chars(char *s)
{
	for (; *s != '\0'; s++)
		if (isspace((unsigned char)*s) || *s == '#' || *s == '[' || *s == ']' || *s == '(' ||
		    *s == ')' || *s == '<' || *s == '>' || *s == '|')
			*s = '!';
}

/* Leading blanks and angle brackets, trailing ones, then strip_chars(). */
static void
clean_envfrom(char *e)
{
	size_t i = 0, n;

	while (isspace((unsigned char)e[i]))
		i++;
	while (e[i] == '<')
		i++;
	cut(e, 0, i);
	n = strlen(e);
	while (n > 0 && isspace((unsigned char)e[n - 1]))
		n--;
	while (n > 0 && e[n - 1] == '>')
		n--;
	e[n] = '\0';
	strip_chars(e);
}

static void
make_as_string(struct received_relay *r)
{
	free(r->as_string);
	r->as_string = xasprintf("[ ip=%s rdns=%s helo=%s by=%s ident=%s envfrom=%s intl=%d "
	    "id=%s auth=%s msa=%d ]", r->ip, r->rdns, r->helo, r->by, r->ident, r->envfrom,
	    r->internal, r->id, r->auth, r->msa);
}

/*
 * The normalized line: white space runs made one space, trimmed, trailing
 * semicolons removed (s/\s+/ /g; s/^ //; s/ $//; 1 while s/\s?;$//).
 */
static size_t
normalize(const char *v, size_t len, char *out, size_t size)
{
	size_t n = 0;
	int space = 0;

	for (size_t i = 0; i < len && n + 1 < size; i++) {
		unsigned char c = (unsigned char)v[i];
		if (isspace(c)) {
			space = 1;
			continue;
		}
		if (space && n > 0)
			out[n++] = ' ';
		space = 0;
		if (n + 1 < size)
			out[n++] = (char)c;
	}
	out[n] = '\0';
	while (n > 0 && out[n - 1] == ';') {
		out[--n] = '\0';
		if (n > 0 && out[n - 1] == ' ')
			out[--n] = '\0';
	}
	return n;
}

static enum line_result
parse_line(const char *value, size_t vlen, struct received_relay *r, char *qms_envfrom)
{
	char line[RECEIVED_LINE_MAX + 1], *l = line;
	char ip[RECEIVED_FIELD_MAX] = "", helo[RECEIVED_FIELD_MAX] = "";
	char rdns[RECEIVED_FIELD_MAX] = "", by[RECEIVED_FIELD_MAX] = "";
	char id[RECEIVED_FIELD_MAX] = "", ident[RECEIVED_FIELD_MAX] = "";
	char envfrom[RECEIVED_FIELD_MAX] = "", auth[RECEIVED_FIELD_MAX] = "";
	char tmp[RECEIVED_FIELD_MAX], tmp2[RECEIVED_FIELD_MAX];
	char sub[RECEIVED_LINE_MAX + 1];
	int have_envfrom = 0, mta_looked_up_dns = 0;
	struct rx_match m;
	size_t len;

	memset(r, 0, sizeof(*r));
	len = normalize(value, vlen, line, sizeof(line));

	if (!rx(RX_FROM_START, l, len, NULL))
		return LINE_SKIP;
	if (rx(RX_WITH_LOCAL_FOR, l, len, NULL))
		return LINE_SKIP;
	if (rx(RX_FROM_BY_SEMI, l, len, &m)) {
		cap(&m, 1, tmp);
		if (!rxs(RX_BRACKET_V4, tmp, NULL))
			return LINE_SKIP;
	}
	/* the date at the end */
	if (rx(RX_DATE, l, len, &m)) {
		cut(l, m.ov[0], m.ov[1]);
		len = strlen(l);
	}
	{
		char *p = strstr(l, ")by ");
		if (p != NULL && len + 1 < sizeof(line)) {
			memmove(p + 2, p + 1, strlen(p + 1) + 1);
			p[1] = ' ';
			len++;
		}
	}
	if (rx(RX_ID, l, len, &m))
		cap(&m, 1, id);
	if (rx(RX_HELO_EQ, l, len, &m))
		cap(&m, 1, helo);
	else if (rx(RX_HELO_WORD, l, len, &m))
		cap(&m, 1, helo);
	if (rx(RX_BY, l, len, &m))
		cap(&m, 1, by);

	/* authentication */
	if (rx(RX_SP_BY_SP, l, len, NULL) && rx(RX_AUTH_WITH, l, len, &m)) {
		cap(&m, 1, auth);
	} else if (rx(RX_GMAIL_BY, l, len, NULL) && rx(RX_GMAIL_VER, l, len, &m)) {
		cap(&m, 1, tmp);
		cap(&m, 2, tmp2);
		snprintf(auth, sizeof(auth), "GMail - transport=%s cipher=%s", tmp, tmp2);
	} else if (rx(RX_COURIER_AUTH, l, len, &m)) {
		cap(&m, 1, auth);
	} else if (rx(RX_AUTHENTICATED, l, len, NULL) && rx(RX_SENDMAIL_AUTH, l, len, NULL)) {
		str_copy(auth, "Sendmail", sizeof(auth));
	} else if (rx(RX_GMX_AUTH, l, len, &m)) {
		cap(&m, 4, tmp);
		cap(&m, 3, tmp2);
		snprintf(auth, sizeof(auth), "GMX (%s / %s)", tmp, tmp2);
	} else if (rx(RX_CP_AUTH1, l, len, NULL) && rx(RX_CP_AUTH2, l, len, NULL)) {
		str_copy(auth, "CriticalPath", sizeof(auth));
	} else if (rx(RX_POSTFIX_AUTH, l, len, &m)) {
		cap(&m, 1, tmp);
		if (strcmp(tmp, "Postfix") == 0)
			str_copy(auth, tmp, sizeof(auth));
		else
			snprintf(auth, sizeof(auth), "Postfix (%s)", tmp);
	} else if (rx(RX_CGP_AUTH1, l, len, NULL) && rx(RX_CGP_AUTH2, l, len, NULL)) {
		str_copy(auth, "Communigate", sizeof(auth));
	} else if (rx(RX_DAV_AUTH, l, len, NULL)) {
		str_copy(auth, "HTTP-DAV", sizeof(auth));
	} else if (rx(RX_SP_BY_SP, l, len, NULL) && rx(RX_VIA_HTTP, l, len, &m)) {
		cap(&m, 1, auth);
	}

	if (strncmp(l, "from ", 5) == 0) {
		l += 5;
		len -= 5;
		if (rx(RX_ENVFROM, l, len, &m)) {
			cap(&m, 1, envfrom);
			have_envfrom = 1;
		}
		if (rx(RX_SQUIRREL, l, len, NULL) && rx(RX_SQUIRREL2, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, by);
			goto enough;
		}
		if (rx(RX_AOL_COM, l, len, NULL) && rx(RX_AOL_WEBMAILUI, l, len, NULL) &&
		    rx(RX_AOL_WEB, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, by);
			goto enough;
		}
		if (rx(RX_SMTPSVC, l, len, NULL)) {
			if (rx(RX_SMTPSVC1, l, len, &m)) {
				cap(&m, 1, helo);
				cap(&m, 2, ip);
				cap(&m, 3, by);
				goto enough;
			}
			if (rx(RX_SMTPSVC_PICKUP, l, len, NULL))
				return LINE_SKIP;
		} else if (rx(RX_MSSMTP, l, len, NULL)) {
			if (rx(RX_MSSMTP1, l, len, &m)) {
				cap(&m, 1, helo);
				cap(&m, 2, ip);
				cap(&m, 3, by);
				id[0] = '\0';
				goto enough;
			}
		} else if (rx(RX_XMAIL, l, len, NULL)) {
			if (rx(RX_XMAIL1, l, len, &m)) {
				cap(&m, 1, helo);
				cap(&m, 2, ip);
				cap(&m, 3, by);
				if (rx(RX_XMAIL_ID, l, len, &m))
					cap(&m, 1, id);
				if (rx(RX_XMAIL_FROM, l, len, &m)) {
					cap(&m, 1, envfrom);
					have_envfrom = 1;
				}
				goto enough;
			}
		} else if (rx(RX_ECEL, l, len, NULL)) {
			if (rx(RX_ECEL1, l, len, &m)) {
				cap(&m, 1, ip);
				cap(&m, 2, helo);
				cap(&m, 3, by);
				goto enough;
			}
			if (rx(RX_ECEL2, l, len, &m)) {
				cap(&m, 1, ip);
				cap(&m, 2, by);
				goto enough;
			}
		} else if (rx(RX_EXIM, l, len, NULL)) {
			if (rx(RX_EXIM_LOCAL, l, len, NULL))
				return LINE_SKIP;
			if (rx(RX_EXIM1, l, len, &m)) {
				size_t n;
				cap(&m, 1, ip);
				cap(&m, 3, by);
				n = m.ov[5] - m.ov[4];
				if (n >= sizeof(sub))
					n = sizeof(sub) - 1;
				memcpy(sub, l + m.ov[4], n);
				sub[n] = '\0';
				(void)sub_take(RX_SUB_HELO, sub, helo);
				(void)sub_take(RX_SUB_IDENT, sub, ident);
				goto enough;
			}
			if (rx(RX_EXIM2, l, len, &m)) {
				size_t n;
				cap(&m, 1, rdns);
				cap(&m, 2, ip);
				cap(&m, 4, by);
				str_copy(helo, rdns, sizeof(helo));
				n = m.ov[7] - m.ov[6];
				if (n >= sizeof(sub))
					n = sizeof(sub) - 1;
				memcpy(sub, l + m.ov[6], n);
				sub[n] = '\0';
				(void)sub_take(RX_SUB_HELO, sub, helo);
				(void)sub_take(RX_SUB_IDENT, sub, ident);
				goto enough;
			}
			if (rx(RX_EXIM3, l, len, &m)) {
				cap(&m, 1, rdns);
				cap(&m, 2, ip);
				cap(&m, 1, helo);
				cap(&m, 4, by);
				goto enough;
			}
			if (rx(RX_EXIM_W1, l, len, &m))
				cap(&m, 1, rdns);
			if (rx(RX_EXIM_W2, l, len, &m))
				cap(&m, 1, helo);
			if (rx(RX_EXIM_W3, l, len, &m))
				cap(&m, 1, ip);
			if (rx(RX_EXIM_W4, l, len, &m)) {
				cap(&m, 1, by);
				if (ip[0] != '\0')
					goto enough;
			}
		} else if (rx(RX_POSTFIX, l, len, NULL)) {
			if (rx(RX_POSTFIX1, l, len, &m) || rx(RX_POSTFIX2, l, len, &m)) {
				mta_looked_up_dns = 1;
				cap(&m, 1, helo);
				cap(&m, 2, rdns);
				cap(&m, 3, ip);
				cap(&m, 4, by);
				if (strcmp(rdns, "unknown") == 0)
					rdns[0] = '\0';
				goto enough;
			}
		} else if (rx(RX_SCALIX, l, len, NULL)) {
			if (rx(RX_SCALIX1, l, len, &m)) {
				cap(&m, 1, helo);
				cap(&m, 2, ip);
				cap(&m, 3, by);
				goto enough;
			}
		} else if (rx(RX_DOMINO, l, len, NULL)) {
			if (rx(RX_DOMINO1, l, len, &m)) {
				mta_looked_up_dns = 0;
				cap(&m, 1, helo);
				cap(&m, 2, ip);
				cap(&m, 3, by);
				goto enough;
			}
		}

		if (rx(RX_WITH_HTTP, l, len, NULL) && rx(RX_HTTP1, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, by);
			goto enough;
		}
		if (!rx(RX_QMAIL_LDAP, l, len, NULL) && rx(RX_SENDMAIL1, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, helo);
			cap(&m, 2, rdns);
			cap(&m, 3, ip);
			cap(&m, 4, by);
			(void)sub_take(RX_IDENT_STRIP1, rdns, ident);
			(void)sub_take(RX_IDENT_STRIP2, rdns, ident);
			goto enough;
		}
		if (rx(RX_EXCH55, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 2, rdns);
			cap(&m, 3, ip);
			cap(&m, 1, helo);
			cap(&m, 4, by);
			goto enough;
		}
		if (rx(RX_GSI, l, len, &m)) {
			cap(&m, 1, rdns);
			cap(&m, 2, ip);
			cap(&m, 3, helo);
			cap(&m, 4, by);
			goto enough;
		}
		if (rx(RX_ATTBI1, l, len, &m)) {
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_ATTBI2, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, helo);
			cap(&m, 2, rdns);
			cap(&m, 3, ip);
			cap(&m, 4, by);
			goto enough;
		}
		if (rx(RX_IDENT_AT, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, helo);
			cap(&m, 3, ip);
			cap(&m, 4, by);
			cap(&m, 2, ident);
			goto enough;
		}
		if (rx(RX_HOTMAIL, l, len, &m)) {
			cap(&m, 1, by);
			if (rx(RX_LEAD_IP, l, len, &m))
				cap(&m, 1, ip);
			goto enough;
		}
		if (rx(RX_QPSMTPD, l, len, &m) || rx(RX_LHLO, l, len, &m) || rx(RX_GMX, l, len, &m)) {
			cap(&m, 1, rdns);
			cap(&m, 2, helo);
			cap(&m, 3, ip);
			cap(&m, 4, by);
			goto enough;
		}
		if (rx(RX_SMTPD_FOR, l, len, &m)) {
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_QMAIL, l, len, NULL)) {
			if (rx(RX_QMAIL1, l, len, &m)) {
				cap(&m, 1, rdns);
				cap(&m, 2, helo);
				cap(&m, 3, ident);
				cap(&m, 4, ip);
				cap(&m, 6, by);
			} else if (rx(RX_QMAIL2, l, len, &m)) {
				cap(&m, 1, rdns);
				cap(&m, 2, helo);
				cap(&m, 3, ip);
				cap(&m, 5, by);
			} else if (rx(RX_QMAIL3, l, len, &m)) {
				cap(&m, 1, rdns);
				cap(&m, 1, helo);
				cap(&m, 2, ident);
				cap(&m, 3, ip);
				cap(&m, 5, by);
			} else if (rx(RX_QMAIL4, l, len, &m)) {
				cap(&m, 1, rdns);
				cap(&m, 1, helo);
				cap(&m, 2, ip);
				cap(&m, 4, by);
			}
			if (strcmp(rdns, "unknown") != 0)
				mta_looked_up_dns = 1;
			else
				rdns[0] = '\0';
			goto enough;
		}
		if (rx(RX_VIA_HTTP_END, l, len, NULL) && rx(RX_YAHOO_WEB, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, by);
			goto enough;
		}
		if (rx(RX_SPACE_BRACKET, l, len, &m)) {
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_PAREN_RDNS, l, len, &m)) {
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_BRACKET_BY, l, len, &m) || rx(RX_PAREN_IP_BY, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, by);
			goto enough;
		}
		if (rx(RX_MDAEMON1, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_MDAEMON2, l, len, &m)) {
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_SENDMAIL2, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_SENDMAIL3, l, len, &m)) {
			cap(&m, 2, tmp);
			if (strcmp(tmp, "softdnserr") == 0) {
				mta_looked_up_dns = 0;
			} else {
				mta_looked_up_dns = 1;
				str_copy(rdns, tmp, sizeof(rdns));
			}
			cap(&m, 1, helo);
			cap(&m, 3, ip);
			cap(&m, 4, by);
			goto enough;
		}
		if (rx(RX_SENDMAIL4, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_SENDMAIL5, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, helo);
			cap(&m, 2, rdns);
			cap(&m, 3, ip);
			cap(&m, 4, by);
			goto enough;
		}
		if (rx(RX_FETCHER, l, len, NULL))
			return LINE_FETCHER;
		if (rx(RX_QMAILISH1, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, rdns);
			cap(&m, 2, helo);
			cap(&m, 3, ident);
			cap(&m, 4, ip);
			cap(&m, 5, by);
			if (ident[0] != '\0' && ident[strlen(ident) - 1] == '@')
				ident[strlen(ident) - 1] = '\0';
			goto enough;
		}
		if (rx(RX_QMAILISH2, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, rdns);
			cap(&m, 1, helo);
			cap(&m, 2, ident);
			cap(&m, 3, ip);
			cap(&m, 4, by);
			if (ident[0] != '\0' && ident[strlen(ident) - 1] == '@')
				ident[strlen(ident) - 1] = '\0';
			goto enough;
		}
		if (rx(RX_HTTP_FOR1, l, len, NULL) && rx(RX_HTTP_FOR2, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, by);
			goto enough;
		}
		if (rx(RX_SMAP, l, len, NULL) && rx(RX_SMAP1, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, rdns);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_SMAP2, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, rdns);
			cap(&m, 2, ip);
			cap(&m, 3, helo);
			cap(&m, 4, by);
			goto enough;
		}
		if ((rx(RX_POST1, l, len, NULL) && rx(RX_POST2, l, len, &m)) ||
		    (rx(RX_ARGO1, l, len, NULL) && rx(RX_ARGO2, l, len, &m)) ||
		    rx(RX_SMTPL, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, by);
			goto enough;
		}
		if (rx(RX_BSMTP1, l, len, NULL) && rx(RX_BSMTP2, l, len, NULL))
			return LINE_SKIP;
		if (rx(RX_SPIKE, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, helo);
			cap(&m, 2, rdns);
			cap(&m, 3, ip);
			cap(&m, 4, by);
			goto enough;
		}
		if (rx(RX_YAHOO_HELO, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, rdns);
			cap(&m, 2, helo);
			cap(&m, 4, ip);
			cap(&m, 5, by);
			if (cap_set(&m, 3))
				cap(&m, 3, ident);
			goto enough;
		}
		if (rx(RX_CGP1, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, helo);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_CGP2, l, len, NULL) && rx(RX_CGP3, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, rdns);
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_CIPHERTRUST, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, by);
			goto enough;
		}
		if (rx(RX_IRONPORT, l, len, &m)) {
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_CONTENTTECH, l, len, NULL))
			return LINE_SKIP;
		if (rx(RX_BLS, l, len, &m)) {
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 4, by);
			goto enough;
		}
		if (rx(RX_TUMBLEWEED, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, by);
			goto enough;
		}
		if (rx(RX_POBOX, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, helo);
			cap(&m, 2, rdns);
			cap(&m, 3, ip);
			cap(&m, 4, by);
			goto enough;
		}
		if (rx(RX_FSECURE, l, len, &m) || rx(RX_ALTAVISTA, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, helo);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_SMTPD32, l, len, &m)) {
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_CSMAP, l, len, &m)) {
			cap(&m, 1, rdns);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_MAILGATE, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, by);
			goto enough;
		}
		if (rx(RX_UNVERIFIED, l, len, &m)) {
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_IP_COMMENT, l, len, &m)) {
			cap(&m, 1, ip);
			cap(&m, 2, by);
			goto enough;
		}
		if (rx(RX_BRACKET_SUB, l, len, &m)) {
			size_t n;
			cap(&m, 1, ip);
			cap(&m, 3, by);
			n = m.ov[5] - m.ov[4];
			if (n >= sizeof(sub))
				n = sizeof(sub) - 1;
			memcpy(sub, l + m.ov[4], n);
			sub[n] = '\0';
			(void)sub_take(RX_SUB_HELO, sub, helo);
			(void)sub_take(RX_SUB_IDENT, sub, ident);
			goto enough;
		}
		if (rx(RX_KDE, l, len, &m)) {
			cap(&m, 1, rdns);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_OBTUSE, l, len, &m)) {
			cap(&m, 1, rdns);
			cap(&m, 2, ip);
			cap(&m, 3, helo);
			cap(&m, 4, by);
			if (strcmp(rdns, "UNKNOWN") != 0)
				mta_looked_up_dns = 1;
			goto enough;
		}
		if (rx(RX_YAHOO_LOGIN, l, len, &m)) {
			cap(&m, 1, helo);
			cap(&m, 3, ip);
			cap(&m, 4, by);
			goto enough;
		}
		if (rx(RX_XORIG, l, len, &m)) {
			cap(&m, 1, ip);
			by[0] = '\0';
			goto enough;
		}
		/* stuff to ignore */
		if (rx(RX_IGN1, l, len, NULL) || rx(RX_IGN2, l, len, NULL) ||
		    rx(RX_IGN3, l, len, NULL) || rx(RX_IGN4, l, len, NULL) ||
		    rx(RX_IGN5, l, len, NULL) || rx(RX_IGN6, l, len, NULL) ||
		    rx(RX_IGN7, l, len, NULL) || rx(RX_IGN8, l, len, NULL) ||
		    rx(RX_IGN9, l, len, NULL) || rx(RX_IGN10, l, len, NULL) ||
		    rx(RX_IGN11, l, len, NULL) || rx(RX_IGN12, l, len, NULL) ||
		    rx(RX_IGN13, l, len, NULL) || rx(RX_IGN14, l, len, NULL))
			return LINE_SKIP;
		if (rx(RX_QMS, l, len, NULL)) {
			if (have_envfrom)
				clean_envfrom(envfrom);
			str_copy(qms_envfrom, envfrom, RECEIVED_FIELD_MAX);
			return LINE_QMAIL_SCANNER;
		}
		if (rx(RX_IGN15, l, len, NULL) || rx(RX_IGN16, l, len, NULL) ||
		    rx(RX_IGN17, l, len, NULL) || rx(RX_IGN18, l, len, NULL) ||
		    rx(RX_IGN19, l, len, NULL) || rx(RX_IGN20, l, len, NULL) ||
		    rx(RX_IGN21, l, len, NULL) || rx(RX_IGN22, l, len, NULL) ||
		    rx(RX_IGN23, l, len, NULL) || rx(RX_IGN24, l, len, NULL) ||
		    rx(RX_IGN25, l, len, NULL) || rx(RX_IGN26, l, len, NULL))
			return LINE_SKIP;
		if (helo[0] == '\0' && rx(RX_GUESS_HELO, l, len, &m))
			cap(&m, 1, helo);
	} else if (strncmp(l, "FROM ", 5) == 0) {
		l += 5;
		len -= 5;
		if (rx(RX_SIMTA, l, len, &m)) {
			mta_looked_up_dns = 1;
			cap(&m, 1, helo);
			cap(&m, 2, rdns);
			cap(&m, 3, ip);
			cap(&m, 4, by);
			cap(&m, 5, id);
			if (strcmp(rdns, "unverified") == 0)
				rdns[0] = '\0';
			goto enough;
		}
	} else if (strncmp(l, "(from ", 6) == 0) {
		l += 6;
		len -= 6;
		if (rx(RX_NAVGW, l, len, &m)) {
			cap(&m, 1, helo);
			cap(&m, 2, ip);
			cap(&m, 3, by);
			goto enough;
		}
		if (rx(RX_SENDMAIL_T, l, len, NULL) || rx(RX_JQUEUE, l, len, NULL))
			return LINE_SKIP;
	}

	/* fall-through */
	if (ip[0] == '\0' && rx(RX_ANY_BRACKET_IP, l, len, &m))
		cap(&m, 1, ip);
	if (ip[0] != '\0' && by[0] != '\0')
		goto enough;
	return LINE_UNPARSEABLE;

enough:
	/* rdns: strip ending dots, "unknown" and "[..." mean none */
	{
		size_t n = strlen(rdns);
		while (n > 0 && rdns[n - 1] == '.')
			rdns[--n] = '\0';
		if (rxs(RX_UNKNOWN_RDNS, rdns, NULL) || rdns[0] == '[')
			rdns[0] = '\0';
	}
	if (rxs(RX_IPV6_PREFIX, ip, &m))
		cut(ip, m.ov[0], m.ov[1]);
	if (ip[0] == '[')
		cut(ip, 0, 1);
	if (ip[0] != '\0' && ip[strlen(ip) - 1] == ']')
		ip[strlen(ip) - 1] = '\0';
	if (rxs(RX_SCOPE, ip, &m))
		ip[m.ov[0]] = '\0';
	if (rxs(RX_MAPPED, ip, &m)) {
		cap(&m, 1, tmp);
		str_copy(ip, tmp, sizeof(ip));
	}
	if (by[0] != '\0' && by[strlen(by) - 1] == ';')
		by[strlen(by) - 1] = '\0';
	strip_chars(ip);
	strip_chars(rdns);
	strip_chars(helo);
	strip_chars(by);
	strip_chars(ident);
	if (have_envfrom)
		clean_envfrom(envfrom);

	str_copy(r->ip, ip, sizeof(r->ip));
	str_copy(r->by, by, sizeof(r->by));
	str_copy(r->helo, helo, sizeof(r->helo));
	str_copy(r->id, id, sizeof(r->id));
	str_copy(r->ident, ident, sizeof(r->ident));
	str_copy(r->envfrom, envfrom, sizeof(r->envfrom));
	str_copy(r->auth, auth, sizeof(r->auth));
	if (rdns[0] == '\0') {
		if (mta_looked_up_dns)
			r->no_reverse_dns = 1;
		else
			r->rdns_not_in_headers = 1;
	}
	str_copy(r->rdns, rdns, sizeof(r->rdns));
	r->ip_private = received_ip_private(ip);
	make_as_string(r);
	return LINE_RELAY;
}

int
received_parse_line(const char *value, size_t len, struct received_relay *relay_r)
{
	char qms[RECEIVED_FIELD_MAX];
	enum line_result res = parse_line(value, len, relay_r, qms);

	if (res == LINE_RELAY)
		return 1;
	return res == LINE_UNPARSEABLE ? -1 : 0;
}

/* ---- networks: NetSet ---- */

struct net {
	unsigned char addr[16];	/* IPv4 as ::ffff:a.b.c.d */
	int bits;		/* prefix length over the 128 bits */
	int exclude;
};

struct netset {
	struct net *v;
	size_t n;
};

struct received_config {
	struct netset trusted, internal, msa;
	int trusted_configured, internal_configured;
	char **orig_headers;	/* originating_ip_headers */
	size_t norig_headers;
	char **bounce_relays;	/* welcomelist_bounce_relays, lower case */
	size_t nbounce_relays;
};

static int
ip_bytes(const char *ip, unsigned char out[16])
{
	struct in_addr a4;

	if (inet_pton(AF_INET, ip, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return 4;
	}
	if (inet_pton(AF_INET6, ip, out) == 1)
		return 6;
	return 0;
}

static void
netset_add(struct netset *s, const char *item)
{
	char buf[128], *slash;
	struct net n = { .exclude = 0 };
	int masklen = -1, fam;

	while (*item == ' ')
		item++;
	if (*item == '!') {
		n.exclude = 1;
		item++;
	}
	str_copy(buf, item, sizeof(buf));
	if ((slash = strchr(buf, '/')) != NULL) {
		*slash = '\0';
		masklen = atoi(slash + 1);
	}
	if (buf[0] == '[' && buf[strlen(buf) - 1] == ']') {
		memmove(buf, buf + 1, strlen(buf));
		buf[strlen(buf) - 1] = '\0';
	}
	if ((slash = strchr(buf, '%')) != NULL)
		*slash = '\0';
	if (isdigit((unsigned char)buf[0]) && strchr(buf, ':') == NULL) {
		/* IPv4, maybe partial: "10.", "192.168", "1.2.3." */
		unsigned int o[4] = { 0, 0, 0, 0 };
		int k = 0;
		const char *p = buf;
		while (k < 4 && isdigit((unsigned char)*p)) {
			o[k++] = (unsigned int)strtoul(p, (char **)&p, 10);
			if (*p == '.')
				p++;
			else
				break;
		}
		if (*p != '\0' || k == 0 || o[0] > 255 || o[1] > 255 || o[2] > 255 || o[3] > 255)
			return;
		if (masklen < 0)
			masklen = 8 * k;
		snprintf(buf, sizeof(buf), "%u.%u.%u.%u", o[0], o[1], o[2], o[3]);
	}
	if ((fam = ip_bytes(buf, n.addr)) == 0)
		return;
	if (fam == 4)
		n.bits = masklen < 0 ? 128 : 96 + (masklen > 32 ? 32 : masklen);
	else
		n.bits = masklen < 0 || masklen > 128 ? 128 : masklen;
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = n;
}

static void
netset_add_list(struct netset *s, const char *value)
{
	char buf[1024], *p, *save = NULL;

	str_copy(buf, value, sizeof(buf));
	for (p = strtok_r(buf, " \t", &save); p != NULL; p = strtok_r(NULL, " \t", &save))
		netset_add(s, p);
}

static void
netset_clear(struct netset *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* NetSet::contains_ip: the first network that holds ip decides. */
static int
netset_contains(const struct netset *s, const char *ip)
{
	unsigned char a[16];

	if (ip_bytes(ip, a) == 0)
		return 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct net *n = &s->v[i];
		int full = n->bits / 8, rest = n->bits % 8;
		if (memcmp(a, n->addr, (size_t)full) != 0)
			continue;
		if (rest != 0 && ((a[full] ^ n->addr[full]) & (0xff << (8 - rest)) & 0xff) != 0)
			continue;
		return !n->exclude;
	}
	return 0;
}

static void
add_loopback(struct netset *s)
{
	netset_add(s, "127.0.0.0/8");
	netset_add(s, "::1");
}

struct received_config *
received_config_new(const struct sa_rules *rules)
{
	struct received_config *c = xcalloc(1, sizeof(*c));

	add_loopback(&c->trusted);
	add_loopback(&c->internal);
	for (unsigned int i = 0; rules != NULL && i < sa_rules_config_count(rules); i++) {
		const struct sa_config_line *l = sa_rules_config(rules, i);
		const char *k = l->key, *v = l->value != NULL ? l->value : "";

		if (strcmp(k, "trusted_networks") == 0) {
			netset_add_list(&c->trusted, v);
			c->trusted_configured = 1;
		} else if (strcmp(k, "clear_trusted_networks") == 0) {
			netset_clear(&c->trusted);
			add_loopback(&c->trusted);
			c->trusted_configured = 0;
		} else if (strcmp(k, "internal_networks") == 0) {
			netset_add_list(&c->internal, v);
			c->internal_configured = 1;
		} else if (strcmp(k, "clear_internal_networks") == 0) {
			netset_clear(&c->internal);
			add_loopback(&c->internal);
			c->internal_configured = 0;
		} else if (strcmp(k, "msa_networks") == 0) {
			netset_add_list(&c->msa, v);
		} else if (strcmp(k, "clear_msa_networks") == 0) {
			netset_clear(&c->msa);
		} else if (strcmp(k, "originating_ip_headers") == 0) {
			char buf[1024], *p, *save = NULL;
			str_copy(buf, v, sizeof(buf));
			for (p = strtok_r(buf, " \t", &save); p != NULL;
			    p = strtok_r(NULL, " \t", &save)) {
				size_t j;
				for (j = 0; j < c->norig_headers; j++)
					if (str_casecmp(c->orig_headers[j], p) == 0)
						break;
				if (j < c->norig_headers)
					continue;
				c->orig_headers = xrealloc(c->orig_headers,
				    (c->norig_headers + 1) * sizeof(*c->orig_headers));
				c->orig_headers[c->norig_headers++] = xstrdup(p);
			}
		} else if (strcmp(k, "welcomelist_bounce_relays") == 0 ||
		    strcmp(k, "whitelist_bounce_relays") == 0) {
			char buf[1024], *p, *save = NULL;
			str_copy(buf, v, sizeof(buf));
			for (p = strtok_r(buf, " \t", &save); p != NULL;
			    p = strtok_r(NULL, " \t", &save)) {
				c->bounce_relays = xrealloc(c->bounce_relays,
				    (c->nbounce_relays + 1) * sizeof(*c->bounce_relays));
				c->bounce_relays[c->nbounce_relays++] = str_lower(xstrdup(p));
			}
		} else if (strcmp(k, "clear_originating_ip_headers") == 0) {
			for (size_t j = 0; j < c->norig_headers; j++)
				free(c->orig_headers[j]);
			c->norig_headers = 0;
		}
	}
	return c;
}

void
received_config_free(struct received_config **cp)
{
	struct received_config *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	netset_clear(&c->trusted);
	netset_clear(&c->internal);
	netset_clear(&c->msa);
	for (size_t j = 0; j < c->norig_headers; j++)
		free(c->orig_headers[j]);
	free(c->orig_headers);
	for (size_t j = 0; j < c->nbounce_relays; j++)
		free(c->bounce_relays[j]);
	free(c->bounce_relays);
	free(c);
}

size_t
received_config_bounce_relays(const struct received_config *c)
{
	return c != NULL ? c->nbounce_relays : 0;
}

int
received_config_is_bounce_relay(const struct received_config *c, const char *host)
{
	for (size_t j = 0; c != NULL && j < c->nbounce_relays; j++)
		if (fnmatch(c->bounce_relays[j], host, FNM_CASEFOLD) == 0)
			return 1;
	return 0;
}

/* ---- the chain: parse_received_headers ---- */

static char *
join_list(const struct received_chain *ch, int which)
{
	size_t n = 0;
	char *s, *p;

	for (size_t i = 0; i < ch->nrelays; i++) {
		const struct received_relay *r = &ch->relays[i];
		int in = which == 0 ? r->in_trusted : which == 1 ? r->in_untrusted :
		    which == 2 ? r->in_internal : r->in_external;
		if (in)
			n += strlen(r->as_string) + 1;
	}
	p = s = xmalloc(n + 1);
	for (size_t i = 0; i < ch->nrelays; i++) {
		const struct received_relay *r = &ch->relays[i];
		int in = which == 0 ? r->in_trusted : which == 1 ? r->in_untrusted :
		    which == 2 ? r->in_internal : r->in_external;
		size_t k;
		if (!in)
			continue;
		if (p != s)
			*p++ = ' ';
		k = strlen(r->as_string);
		memcpy(p, r->as_string, k);
		p += k;
	}
	*p = '\0';
	return s;
}

/* The first IP address in v, as Perl's m/($IP_ADDRESS)/ finds it. */
static int
find_ip(const char *v, size_t len, char *out)
{
	struct rx_match m;

	if (len > RECEIVED_LINE_MAX)
		len = RECEIVED_LINE_MAX;
	if (!rx(RX_FIND_IP, v, len, &m))
		return 0;
	cap(&m, 1, out);
	return 1;
}

void
received_parse(const struct received_config *conf, const struct received_field *fields,
    size_t nfields, int originating, struct received_chain *ch)
{
	static const struct received_config none;
	const struct received_config *c = conf != NULL ? conf : &none;
	const struct netset *trusted = &c->trusted, *internal = &c->internal;
	int did_trust = c->trusted_configured, did_internal = c->internal_configured;
	int in_trusted = 1, in_internal = 1, found_msa = 0, allow_mailfetch_markers = 1;
	char qms_envfrom[RECEIVED_FIELD_MAX] = "", qms_next[RECEIVED_FIELD_MAX];
	int have_qms = 0;
	size_t nlines = 0;
	const char **lines;
	size_t *lens;
	char (*orig)[80] = NULL;
	size_t norig = 0;

	memset(ch, 0, sizeof(*ch));
	ch->last_trusted_relay_index = -1;
	ch->last_internal_relay_index = -1;
	if (!(did_trust && did_internal)) {
		if (did_trust && !did_internal)
			internal = trusted;
		else if (!did_trust && did_internal)
			trusted = internal;
	}

	/* the Received fields, then the originating_ip_headers ones */
	lines = xcalloc(RECEIVED_MAX + c->norig_headers + 1, sizeof(*lines));
	lens = xcalloc(RECEIVED_MAX + c->norig_headers + 1, sizeof(*lens));
	for (size_t i = 0; i < nfields && nlines < RECEIVED_MAX; i++)
		if (str_casecmp(fields[i].name, "Received") == 0) {
			lines[nlines] = fields[i].value;
			lens[nlines++] = fields[i].value_len;
		}
	if (c->norig_headers > 0)
		orig = xcalloc(c->norig_headers, sizeof(*orig));
	for (size_t h = 0; h < c->norig_headers; h++) {
		const struct received_field *last = NULL;
		char ipbuf[RECEIVED_FIELD_MAX];
		/* get_header in scalar context: the last one */
		for (size_t i = 0; i < nfields; i++)
			if (str_casecmp(fields[i].name, c->orig_headers[h]) == 0)
				last = &fields[i];
		if (last == NULL || !find_ip(last->value, last->value_len, ipbuf))
			continue;
		snprintf(orig[norig], sizeof(orig[norig]), "from X-Originating-IP: %s", ipbuf);
		lines[nlines] = orig[norig];
		lens[nlines++] = strlen(orig[norig]);
		norig++;
	}

	ch->relays = xcalloc(nlines + 1, sizeof(*ch->relays));
	for (size_t i = 0; i < nlines; i++) {
		struct received_relay *r = &ch->relays[ch->nrelays];
		enum line_result res;

		qms_next[0] = '\0';
		res = parse_line(lines[i], lens[i], r, qms_next);
		if (res == LINE_UNPARSEABLE)
			ch->num_unparseable++;
		if (res == LINE_FETCHER && allow_mailfetch_markers) {
			/* restart the parse: found_pop_fetcher_sig */
			for (size_t k = 0; k < ch->nrelays; k++) {
				ch->relays[k].in_trusted = 0;
				ch->relays[k].in_internal = 0;
				ch->relays[k].in_external = 0;
			}
		}
		if (res != LINE_RELAY) {
			free(r->as_string);
			memset(r, 0, sizeof(*r));
			if (in_trusted)
				ch->last_trusted_relay_index++;
			if (in_internal)
				ch->last_internal_relay_index++;
			/* the qmail-scanner envelope sender goes to the next field */
			have_qms = res == LINE_QMAIL_SCANNER;
			if (have_qms)
				str_copy(qms_envfrom, qms_next, sizeof(qms_envfrom));
			continue;
		}
		if (have_qms && qms_envfrom[0] != '\0') {
			str_copy(r->envfrom, qms_envfrom, sizeof(r->envfrom));
		}
		have_qms = 0;
		if (in_trusted && !found_msa) {
			if (!did_trust && !did_internal) {
				if (!r->ip_private && r->auth[0] == '\0') {
					in_trusted = 0;
					in_internal = 0;
				}
			} else if (r->auth[0] == '\0' && !netset_contains(trusted, r->ip)) {
				if (!originating)
					in_trusted = 0;
				else
					found_msa = 1;
				in_internal = 0;
			} else {
				if (in_internal && r->auth[0] == '\0' &&
				    !netset_contains(internal, r->ip))
					in_internal = 0;
				if (netset_contains(&c->msa, r->ip)) {
					found_msa = 1;
					r->msa = 1;
				}
			}
		}
		r->internal = in_internal;
		make_as_string(r);
		if (in_trusted) {
			r->in_trusted = 1;
			allow_mailfetch_markers = 1;
			ch->last_trusted_relay_index++;
		} else {
			r->in_untrusted = 1;
			allow_mailfetch_markers = 0;
		}
		if (in_internal) {
			r->in_internal = 1;
			ch->last_internal_relay_index++;
		} else {
			r->in_external = 1;
		}
		ch->nrelays++;
	}
	for (size_t i = 0; i < ch->nrelays; i++) {
		const struct received_relay *r = &ch->relays[i];
		ch->num_trusted += r->in_trusted != 0;
		ch->num_untrusted += r->in_untrusted != 0;
		ch->num_internal += r->in_internal != 0;
		ch->num_external += r->in_external != 0;
	}
	ch->trusted_str = join_list(ch, 0);
	ch->untrusted_str = join_list(ch, 1);
	ch->internal_str = join_list(ch, 2);
	ch->external_str = join_list(ch, 3);
	free(lines);
	free(lens);
	free(orig);
}

void
received_chain_clear(struct received_chain *ch)
{
	for (size_t i = 0; i < ch->nrelays; i++)
		free(ch->relays[i].as_string);
	free(ch->relays);
	free(ch->trusted_str);
	free(ch->untrusted_str);
	free(ch->internal_str);
	free(ch->external_str);
	memset(ch, 0, sizeof(*ch));
	ch->last_trusted_relay_index = -1;
	ch->last_internal_relay_index = -1;
}
