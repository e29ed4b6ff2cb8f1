/* SPDX-License-Identifier: MIT */
/*
 * test_received - the Received parser and trust boundary (filter/received.h)
 * against SpamAssassin's own: every expected relay string below was printed
 * by SpamAssassin 4.0.1 (Debian's, with /usr/share/spamassassin and
 * /etc/spamassassin) for a message holding that one Received field: the
 * examples of its Received.pm comments plus current Postfix, Exim, Gmail,
 * Outlook, Yahoo, qmail, sendmail and facteur fields.  Then whole chains
 * (inferred and configured trust, fetchmail restart, X-Originating-IP),
 * and hostile input: huge, binary, truncated, 1000 fields.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "filter/received.h"
#include "filter/sa_rules.h"
#include "lib/mem.h"

struct row {
	const char *field;
	const char *expect;	/* the relay string, "SKIP" or "UNPARSEABLE" */
	size_t trusted;		/* num_relays_trusted */
};

static const struct row rows[] = {
	{ "(from vashugins@juno.com)  by m06.lax.untd.com (jqueuemail) id LRVB3JA"
	      "J; Fri, 02 Jun 2006 08:15:21 PDT",
	  "UNPARSEABLE", 0 },
	{ "FROM ca-ex-bridge1.nai.com BY scwsout1.nai.com ; Fri Feb 07 10:18:12 2"
	      "003 -0800",
	  "SKIP", 0 },
	{ "from  ([172.16.1.78]) by email2.codeworksonline.com with Microsoft SMT"
	      "PSVC(5.0.2195.6713); Wed, 6 Sep 2006 21:14:29 -0400",
	  "[ ip=172.16.1.78 rdns= helo= by=email2.codeworksonline.com ident= envf"
	      "rom= intl=1 id= auth= msa=0 ]", 1 },
	{ "from (130.215.36.186) by mcafee.wpi.edu via smtp id 021b_7e19a55a_ea7e"
	      "_11da_83a9_00304811e63a; Tue, 23 May 2006 13:06:35 -0400",
	  "[ ip=130.215.36.186 rdns= helo= by=mcafee.wpi.edu ident= envfrom= intl"
	      "=0 id=021b_7e19a55a_ea7e_11da_83a9_00304811e63a auth= msa=0 ]", 0 },
	{ "from (AUTH: e40a9cea) by vqx.net with esmtp (courier-0.40) for <asrg@i"
	      "etf.org>; Mon, 03 Mar 2003 14:49:28 +0000",
	  "SKIP", 0 },
	{ "from ([10.225.209.19:33672]) by ecelerity-va-1 (ecelerity HEAD) with S"
	      "MTP id EE/20-30863-33CE1054; Fri, 08 Sep 2006 18:18:27 -0400",
	  "SKIP", 0 },
	{ "from ([127.0.0.1:32923]) by bm1-21.ed10.com (ecelerity 2.1.1ea r(11031"
	      "M)) with ECSTREAM id 8B/57-16227-3764EB44 for <example@vandinter.org>;"
	      " Wed, 19 Jul 2006 10:49:23 -0400",
	  "SKIP", 0 },
	{ "from ([127.0.0.1]) with MailEnable ESMTP; Wed, 10 Jul 2019 10:29:59 +0"
	      "300",
	  "SKIP", 0 },
	{ "from ([172.21.2.10]) by out-relay4.mtahq.org with ESMTP  id 4420961.82"
	      "81; Tue, 22 Aug 2006 17:53:08 -0400",
	  "[ ip=172.21.2.10 rdns= helo= by=out-relay4.mtahq.org ident= envfrom= i"
	      "ntl=1 id=4420961.8281 auth= msa=0 ]", 1 },
	{ "from ([192.168.1.151:49601] helo=dev1.democracyinaction.org) by m12.pr"
	      "od.democracyinaction.com (ecelerity 2.1.1.3 r(11743)) with ESMTP id 52"
	      "/92-02454-89FBA054 for <example@vandinter.org>; Fri, 15 Sep 2006 10:58"
	      ":32 -0400",
	  "[ ip=192.168.1.151 rdns= helo=dev1.democracyinaction.org by=m12.prod.d"
	      "emocracyinaction.com ident= envfrom= intl=1 id=52/92-02454-89FBA054 au"
	      "th= msa=0 ]", 1 },
	{ "from 10.165.130.62 by CNNIMAIL12.CNN.COM (SMTPL release 1.0d) with TCP"
	      "; Fri, 1 Sep 2006 20:28:14 -0400",
	  "[ ip=10.165.130.62 rdns= helo= by=CNNIMAIL12.CNN.COM ident= envfrom= i"
	      "ntl=1 id= auth= msa=0 ]", 1 },
	{ "from 12-211-5-69.client.attbi.com (<unknown.domain>[12.211.5.69]) by r"
	      "wcrmhc53.attbi.com (rwcrmhc53) with SMTP id <2002112823351305300akl1ue"
	      ">; Thu, 28 Nov 2002 23:35:13 +0000",
	  "[ ip=12.211.5.69 rdns= helo=12-211-5-69.client.attbi.com by=rwcrmhc53."
	      "attbi.com ident= envfrom= intl=0 id=2002112823351305300akl1ue auth= ms"
	      "a=0 ]", 0 },
	{ "from 127.0.0.1 (AVG SMTP 7.0.299 [265.6.8]); Wed, 05 Jan 2005 15:06:48"
	      " -0800",
	  "SKIP", 0 },
	{ "from 156.56.111.196 by blazing.arsecandle.org (envelope-from <gentoo-a"
	      "nnounce-return-530-rod=arsecandle.org@lists.gentoo.org>, uid 502) with"
	      " qmail-scanner-1.24 (clamdscan: 0.80/594. f-prot: 4.4.2/3.14.11. Clear"
	      ":RC:0(156.56.111.196):. Processed in 0.288806 secs); 06 Feb 2005 21:11"
	      ":38 -0000",
	  "SKIP", 0 },
	{ "from 192.168.5.158 ( [192.168.5.158]) as user jason@localhost by mail."
	      "reusch.net with HTTP; Mon, 8 Jul 2002 23:24:56 -0400",
	  "[ ip=192.168.5.158 rdns= helo= by=mail.reusch.net ident= envfrom= intl"
	      "=1 id= auth=HTTP msa=0 ]", 1 },
	{ "from 211.245.85.228  (EHLO ) (211.245.85.228) by mta232.mail.scd.yahoo"
	      ".com with SMTP; Sun, 25 Jan 2004 00:24:37 -0800",
	  "[ ip=211.245.85.228 rdns=211.245.85.228 helo= by=mta232.mail.scd.yahoo"
	      ".com ident= envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from 384836569573 named unknown by gmailapi.google.com with HTTPREST; "
	      "Wed, 6 Mar 2019 03:39:24 -0500",
	  "SKIP", 0 },
	{ "from 4wtgRl (kgbxn@[211.244.147.115]) by dogma.slashnull.org (8.11.6/8"
	      ".11.6) with SMTP id h8BBsUJ18848; Thu, 11 Sep 2003 12:54:31 +0100",
	  "[ ip=211.244.147.115 rdns= helo=4wtgRl by=dogma.slashnull.org ident=kg"
	      "bxn envfrom= intl=0 id=h8BBsUJ18848 auth= msa=0 ]", 0 },
	{ "from 62.180.7.250 (HELO daisy) by smtp.altavista.de (209.228.22.152) w"
	      "ith SMTP; 19 Sep 2002 17:03:17 +0000",
	  "[ ip=62.180.7.250 rdns= helo=daisy by=smtp.altavista.de ident= envfrom"
	      "= intl=0 id= auth= msa=0 ]", 0 },
	{ "from 82.135.198.129 by FWM-M18.sysops.aol.com (64.12.168.82) with HTTP"
	      " (WebMailUI); Tue, 19 Jun 2007 11:16:54 -0400",
	  "[ ip=82.135.198.129 rdns= helo= by=FWM-M18.sysops.aol.com ident= envfr"
	      "om= intl=1 id= auth=HTTP msa=0 ]", 1 },
	{ "from Agni (localhost [::ffff:127.0.0.1]) (TLS: TLSv1/SSLv3, 168bits,DE"
	      "S-CBC3-SHA) by agni.forevermore.net with esmtp; Mon, 28 Oct 2002 14:48"
	      ":52 -0800",
	  "[ ip=127.0.0.1 rdns=localhost helo=Agni by=agni.forevermore.net ident="
	      " envfrom= intl=1 id= auth= msa=0 ]", 1 },
	{ "from BAY0-HMR08.adinternal.hotmail.com (bay0-hmr08.bay0.hotmail.com [6"
	      "5.54.241.207]) by dogma.slashnull.org (8.11.6/8.11.6) with ESMTP id h2"
	      "DBpvs24047 for <webmaster@efi.ie>; Thu, 13 Mar 2003 11:51:57 GMT",
	  "[ ip=65.54.241.207 rdns=bay0-hmr08.bay0.hotmail.com helo=BAY0-HMR08.ad"
	      "internal.hotmail.com by=dogma.slashnull.org ident= envfrom= intl=0 id="
	      "h2DBpvs24047 auth= msa=0 ]", 0 },
	{ "from CATHY.IJS.SI by CATHY.IJS.SI (PMDF V4.3-10 #8779) id <01KTSSR50NS"
	      "W001MXN@CATHY.IJS.SI>; Fri, 21 Mar 2003 20:50:56 +0100",
	  "SKIP", 0 },
	{ "from DL1GSPMX02 (dl1gspmx02.gamestop.com) by email.ebgames.com (LSMTP "
	      "for Windows NT v1.1b) with SMTP id <21.000575A0@email.ebgames.com>; Tu"
	      "e, 12 Sep 2006 21:06:43 -0500",
	  "SKIP", 0 },
	{ "from DPLAPTOP ( 72.242.176.162) by mail.puryear-it.com (Scalix SMTP Re"
	      "lay 10.0.1.3) via ESMTP; Fri, 23 Jun 2006 16:39:47 -0500 (CDT)",
	  "[ ip=72.242.176.162 rdns= helo=DPLAPTOP by=mail.puryear-it.com ident= "
	      "envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from DSmith1204@aol.com by imo-m09.mx.aol.com (mail_out_v34.13.) id 7."
	      "53.208064a0 (4394); Sat, 11 Jan 2003 23:24:31 -0500 (EST)",
	  "SKIP", 0 },
	{ "from GWGC6-MTA by gc6.jefferson.co.us with Novell_GroupWise; Tue, 30 N"
	      "ov 2004 10:09:15 -0700",
	  "SKIP", 0 },
	{ "from MATT_LINUX by hippo.star.co.uk via smtpd (for mail.webnote.net [1"
	      "93.120.211.219]) with SMTP; 3 Jul 2002 15:43:50 UT",
	  "SKIP", 0 },
	{ "from MjA3NDc4Mg (unknown) by ismtpd0001p1lon1.sendgrid.net (SG) with H"
	      "TTP id aqHKNX2kSp-HiqspAa-uvw for <email@e.example.com>; Thu, 02 Apr 2"
	      "020 07:53:55.516 +0000 (UTC)",
	  "SKIP", 0 },
	{ "from Unknown/Local ([?.?.?.?]) by mailcity.com; Fri, 17 Jan 2003 15:23"
	      ":29 -0000",
	  "SKIP", 0 },
	{ "from [10.128.128.81]:50999 (HELO dfintra.f-secure.com) by fsav4im2 ([1"
	      "0.128.128.74]:25) (F-Secure Anti-Virus for Internet Mail 6.0.34 Releas"
	      "e) with SMTP; Tue, 5 Mar 2002 14:11:53 -0000",
	  "[ ip=10.128.128.81 rdns= helo=dfintra.f-secure.com by=fsav4im2 ident= "
	      "envfrom= intl=1 id= auth= msa=0 ]", 1 },
	{ "from [212.87.144.30] (account seiz [212.87.144.30] verified) by x.imd."
	      "net (CommuniGate Pro SMTP 4.0.3) with ESMTP-TLS id 5026665 for spamass"
	      "assin-talk@lists.sourceforge.net; Wed, 15 Jan 2003 16:27:05 +0100",
	  "[ ip=212.87.144.30 rdns= helo= by=x.imd.net ident= envfrom= intl=1 id="
	      "5026665 auth=Communigate msa=0 ]", 1 },
	{ "from [218.19.142.229] (helo=hotmail.com ident=yiuhyotp) by yzordderrex"
	      " with smtp (Exim 3.35 #1 (Debian)) id 194BE5-0005Zh-00; Sat, 12 Apr 20"
	      "03 03:58:53 +0100",
	  "[ ip=218.19.142.229 rdns= helo=hotmail.com by=yzordderrex ident=yiuhyo"
	      "tp envfrom= intl=0 id=194BE5-0005Zh-00 auth= msa=0 ]", 0 },
	{ "from [61.174.163.26] (helo=host) by sc8-sf-list1.sourceforge.net with "
	      "smtp (Exim 3.31-VA-mm2 #1 (Debian)) id 18t2z0-0001NX-00 for <razor-use"
	      "rs@lists.sourceforge.net>; Wed, 12 Mar 2003 01:57:10 -0800",
	  "[ ip=61.174.163.26 rdns= helo=host by=sc8-sf-list1.sourceforge.net ide"
	      "nt= envfrom= intl=0 id=18t2z0-0001NX-00 auth= msa=0 ]", 0 },
	{ "from [65.167.180.251] by relent.cedata.com (MessageWall 1.1.0) with SM"
	      "TP; 20 Feb 2003 23:57:15 -0000",
	  "[ ip=65.167.180.251 rdns= helo= by=relent.cedata.com ident= envfrom= i"
	      "ntl=0 id= auth= msa=0 ]", 0 },
	{ "from acecomms [202.83.84.95] by mailscan.acenet.net.au [202.83.84.27] "
	      "with SMTP (MDaemon.PRO.v5.0.6.R) for <spamassassin-talk@lists.sourcefo"
	      "rge.net>; Fri, 21 Feb 2003 09:32:27 +1000",
	  "[ ip=202.83.84.95 rdns= helo=acecomms by=mailscan.acenet.net.au ident="
	      " envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from adsl-207-213-27-129.dsl.lsan03.pacbell.net (HELO merlin.net.au) ("
	      "Owner50@207.213.27.129) by totor.bouissou.net with SMTP; 10 Nov 2003 0"
	      "6:30:34 -0000 ",
	  "[ ip=207.213.27.129 rdns=adsl-207-213-27-129.dsl.lsan03.pacbell.net he"
	      "lo=merlin.net.au by=totor.bouissou.net ident=Owner50 envfrom= intl=0 i"
	      "d= auth= msa=0 ]", 0 },
	{ "from andrew by trinity.supernews.net with local (Exim 4.12) id 18xeL6-"
	      "000Dn1-00; Tue, 25 Mar 2003 02:39:00 +0000",
	  "SKIP", 0 },
	{ "from attbi.com (h000502e08144.ne.client2.attbi.com[24.128.27.103]) by "
	      "rwcrmhc53.attbi.com (rwcrmhc53) with SMTP id <20030222193438053008f7te"
	      "e>; Sat, 22 Feb 2003 19:34:39 +0000",
	  "[ ip=24.128.27.103 rdns=h000502e08144.ne.client2.attbi.com helo=attbi."
	      "com by=rwcrmhc53.attbi.com ident= envfrom= intl=0 id=20030222193438053"
	      "008f7tee auth= msa=0 ]", 0 },
	{ "from av0001.technodiva.com (localhost [127.0.0.1])by  localhost.techno"
	      "diva.com (Postfix) with ESMTP id 846CF2117for  <proftp-user@lists.sour"
	      "ceforge.net>; Mon,  7 Aug 2006 17:48:07 +0200 (MEST)",
	  "[ ip=127.0.0.1 rdns=localhost helo=av0001.technodiva.com by=localhost."
	      "technodiva.com ident= envfrom= intl=1 id=846CF2117for auth= msa=0 ]", 1 },
	{ "from bushinternet.com (softdnserr [::ffff:61.99.99.67]) by mail.cs.hel"
	      "sinki.fi with esmtp; Fri, 22 Aug 2003 12:25:41 +0300",
	  "[ ip=61.99.99.67 rdns= helo=bushinternet.com by=mail.cs.helsinki.fi id"
	      "ent= envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from casper.ghostscript.com (raph@casper [127.0.0.1]) h148aux8016336ve"
	      "rify=FAIL); Tue, 4 Feb 2003 00:36:56 -0800",
	  "SKIP", 0 },
	{ "from cp-its-ieg01.mail.saic.com by cpmx.mail.saic.com for me@jmason.or"
	      "g; Tue, 23 Jul 2002 14:09:10 -0700",
	  "SKIP", 0 },
	{ "from dsl092-072-213.bos1.dsl.speakeasy.net ([66.92.72.213] helo=blazin"
	      "g.arsecandle.org) by sc8-sf-list1.sourceforge.net with esmtp (Cipher T"
	      "LSv1:DES-CBC3-SHA:168) (Exim 3.31-VA-mm2 #1 (Debian)) id 18lyuU-0007TI"
	      "-00 for <SpamAssassin-talk@lists.sourceforge.net>; Thu, 20 Feb 2003 14"
	      ":11:18 -0800",
	  "[ ip=66.92.72.213 rdns=dsl092-072-213.bos1.dsl.speakeasy.net helo=blaz"
	      "ing.arsecandle.org by=sc8-sf-list1.sourceforge.net ident= envfrom= int"
	      "l=0 id=18lyuU-0007TI-00 auth= msa=0 ]", 0 },
	{ "from dslb-082-083-045-064.pools.arcor-ip.net (EHLO homepc) [82.83.45.6"
	      "4] by mail.gmx.net (mp010) with SMTP; 03 Feb 2007 13:13:47 +0100",
	  "[ ip=82.83.45.64 rdns=dslb-082-083-045-064.pools.arcor-ip.net helo=hom"
	      "epc by=mail.gmx.net ident= envfrom= intl=1 id= auth=GMX (SMTP / mail.g"
	      "mx.net) msa=0 ]", 1 },
	{ "from eclectic.kluge.net ([66.92.69.221] ident=[W9VcNxE2vKxgWHD05PJbLzI"
	      "HSxcmZQ/O]) by sc8-sf-list1.sourceforge.net with esmtp (Cipher TLSv1:D"
	      "ES-CBC3-SHA:168) (Exim 3.31-VA-mm2 #1 (Debian)) id 18m0hT-00031I-00 fo"
	      "r <spamassassin-talk@lists.sourceforge.net>; Thu, 20 Feb 2003 16:06:00"
	      " -0800",
	  "[ ip=66.92.69.221 rdns=eclectic.kluge.net helo=eclectic.kluge.net by=s"
	      "c8-sf-list1.sourceforge.net ident=!W9VcNxE2vKxgWHD05PJbLzIHSxcmZQ/O! e"
	      "nvfrom= intl=0 id=18m0hT-00031I-00 auth= msa=0 ]", 0 },
	{ "from gandalf ([4.37.75.131]) (authenticated bits=0) by herald.cc.purdu"
	      "e.edu (8.12.5/8.12.5/herald) with ESMTP id g9JLefrm028228 for <spamass"
	      "assin-talk@lists.sourceforge.net>; Sat, 19 Oct 2002 16:40:41 -0500 (ES"
	      "T)",
	  "[ ip=4.37.75.131 rdns= helo=gandalf by=herald.cc.purdue.edu ident= env"
	      "from= intl=1 id=g9JLefrm028228 auth=Sendmail msa=0 ]", 1 },
	{ "from ironport.com (10.1.1.5) by a50.ironport.com with ESMTP; 01 Apr 20"
	      "03 12:00:51 -0800",
	  "[ ip=10.1.1.5 rdns=ironport.com helo=ironport.com by=a50.ironport.com "
	      "ident= envfrom= intl=1 id= auth= msa=0 ]", 1 },
	{ "from itrqtnlnq (lucilleskinner@93.124.107.183 with login) by smtp111.m"
	      "ail.ne1.yahoo.com with SMTP; 17 Jan 2011 08:23:27 -0800 PST",
	  "[ ip=93.124.107.183 rdns= helo=itrqtnlnq by=smtp111.mail.ne1.yahoo.com"
	      " ident= envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from jmason.org (unverified [195.218.107.131]) by ni-mail1.dna.utvinte"
	      "rnet.net <B0014212518@ni-mail1.dna.utvinternet.net>; Tue, 11 Feb 2003 "
	      "12:18:12 +0000",
	  "[ ip=195.218.107.131 rdns=unverified helo=jmason.org by=ni-mail1.dna.u"
	      "tvinternet.net ident= envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from list.brainbuzz.com (63.146.189.86:23198) by mx1.yourtech.net (209"
	      ".32.147.34:25) with [XMail 1.20 ESMTP Server] id <S72E> for <jason@ell"
	      "ingson.org.spamassassin.org> from <bounce-cscommunity-11965901@list.cr"
	      "amsession.com.spamassassin.org>; Sat, 18 Sep 2004 23:17:54 -0500",
	  "[ ip=63.146.189.86 rdns= helo=list.brainbuzz.com by=mx1.yourtech.net i"
	      "dent= envfrom=bounce-cscommunity-11965901@list.cramsession.com.spamass"
	      "assin.org intl=0 id=S72E auth= msa=0 ]", 0 },
	{ "from list.brainbuzz.com (63.146.189.86:23198) by mx1.yourtech.net with"
	      " [XMail 1.20 ESMTP Server] id <S72E> for <jason@ellingson.org.spamassa"
	      "ssin.org> from <bounce-cscommunity-11965901@list.cramsession.com.spama"
	      "ssassin.org>; Sat, 18 Sep 2004 23:17:54 -0500",
	  "[ ip=63.146.189.86 rdns= helo=list.brainbuzz.com by=mx1.yourtech.net i"
	      "dent= envfrom=bounce-cscommunity-11965901@list.cramsession.com.spamass"
	      "assin.org intl=0 id=S72E auth= msa=0 ]", 0 },
	{ "from localhost (example.com [local]) by example.com (OpenSMTPD) with E"
	      "SMTPA id 5db34e0d for <email@example.com>; Tue, 7 Apr 2020 01:38:29 -0"
	      "600 (MDT)",
	  "SKIP", 0 },
	{ "from localhost (localhost [127.0.0.1]) (uid 500) by mail with local; T"
	      "ue, 07 Jan 2003 11:40:47 -0600",
	  "[ ip=127.0.0.1 rdns=localhost helo=localhost by=mail ident= envfrom= i"
	      "ntl=1 id= auth= msa=0 ]", 1 },
	{ "from mail-backend.DDDD.com (LHLO mail-backend.DDDD.com) (10.2.2.20) by"
	      " mail-backend.DDDD.com with LMTP; Thu, 18 Jun 2015 16:50:56 -0700 (PDT"
	      ")",
	  "[ ip=10.2.2.20 rdns=mail-backend.DDDD.com helo=mail-backend.DDDD.com b"
	      "y=mail-backend.DDDD.com ident= envfrom= intl=1 id= auth= msa=0 ]", 1 },
	{ "from mail.payex.com id <B5b8f11e30004>; Wed, 05 Sep 2018 01:14:43 +020"
	      "0",
	  "SKIP", 0 },
	{ "from mail1.insuranceiq.com (host66.insuranceiq.com [65.217.159.66] (ma"
	      "y be forged)) by dogma.slashnull.org (8.11.6/8.11.6) with ESMTP id h2F"
	      "0c2x31856 for <jm@jmason.org>; Sat, 15 Mar 2003 00:38:03 GMT",
	  "[ ip=65.217.159.66 rdns=host66.insuranceiq.com helo=mail1.insuranceiq."
	      "com by=dogma.slashnull.org ident= envfrom= intl=0 id=h2F0c2x31856 auth"
	      "= msa=0 ]", 0 },
	{ "from mail2.detr.gsi.gov.uk ([51.64.35.18] helo=ahvfw.dtlr.gsi.gov.uk) "
	      "by mail4.gsi.gov.uk with smtp id 190K1R-0000me-00 for spamassassin-tal"
	      "k-admin@lists.sourceforge.net; Tue, 01 Apr 2003 12:33:46 +0100",
	  "[ ip=51.64.35.18 rdns=mail2.detr.gsi.gov.uk helo=ahvfw.dtlr.gsi.gov.uk"
	      " by=mail4.gsi.gov.uk ident= envfrom= intl=0 id=190K1R-0000me-00 auth= "
	      "msa=0 ]", 0 },
	{ "from mtsbp606.email-info.net (?dXqpg3b0hiH9faI2OxLT94P/YKDD3rQ1?@64.25"
	      "3.199.166) by kde.informatik.uni-kl.de with SMTP; 30 Apr 2003 15:06:29",
	  "[ ip=64.253.199.166 rdns=mtsbp606.email-info.net helo=mtsbp606.email-i"
	      "nfo.net by=kde.informatik.uni-kl.de ident=?dXqpg3b0hiH9faI2OxLT94P/YKD"
	      "D3rQ1? envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from mx10.topofferz.net (HELO ) (69.6.60.10) by blazing.arsecandle.org"
	      " with SMTP; 3 Mar 2004 20:34:38 -0000",
	  "[ ip=69.6.60.10 rdns=mx10.topofferz.net helo= by=blazing.arsecandle.or"
	      "g ident= envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from no.name.available by [165.224.216.88] via smtpd (for lists.source"
	      "forge.net [66.35.250.206]) with ESMTP; Fri, 28 Jan 2005 15:42:30 -0500",
	  "SKIP", 0 },
	{ "from no.name.available by [165.224.43.143] via smtpd (for [165.224.216"
	      ".89]) with ESMTP; Fri, 28 Jan 2005 13:06:39 -0500",
	  "SKIP", 0 },
	{ "from oemcomputer [63.232.189.195] by highstream.net (SMTPD32-7.07) id "
	      "A4CE7F2A0028; Sat, 01 Feb 2003 21:39:10 -0500",
	  "[ ip=63.232.189.195 rdns= helo=oemcomputer by=highstream.net ident= en"
	      "vfrom= intl=0 id=A4CE7F2A0028 auth= msa=0 ]", 0 },
	{ "from postfix3-2.free.fr (HELO machine.domain.com) (foobar@213.228.0.16"
	      "9) by totor.bouissou.net with SMTP; 14 Nov 2003 08:05:50 -0000",
	  "[ ip=213.228.0.169 rdns=postfix3-2.free.fr helo=machine.domain.com by="
	      "totor.bouissou.net ident=foobar envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from ran-out.mx.develooper.com (IDENT:qmailr@one.develooper.com [64.81"
	      ".84.115]) by dogma.slashnull.org (8.11.6/8.11.6) with SMTP id h381Vvf1"
	      "9860 for <jm-cpan@jmason.org>; Tue, 8 Apr 2003 02:31:57 +0100",
	  "[ ip=64.81.84.115 rdns=one.develooper.com helo=ran-out.mx.develooper.c"
	      "om by=dogma.slashnull.org ident=qmailr envfrom= intl=0 id=h381Vvf19860"
	      " auth= msa=0 ]", 0 },
	{ "from root (helo=candygram.thunk.org) by thunker.thunk.org with local-e"
	      "smtps  (tls_cipher TLS-1.0:RSA_AES_256_CBC_SHA:32)  (Exim 4.50 #1 (Deb"
	      "ian)) id 1FwHqR-0008Bw-OG; Fri, 30 Jun 2006 08:11:35 -0400",
	  "SKIP", 0 },
	{ "from root (helo=localhost) by broadcast.iac.iafrica.com with local-bsm"
	      "tp (Exim 4.30; FreeBSD) id 1GN22d-0000xp-2K for example@vandinter.org;"
	      " Tue, 12 Sep 2006 08:46:43 +0200",
	  "SKIP", 0 },
	{ "from sc8-sf-list1-b.sourceforge.net ([10.3.1.13] helo=sc8-sf-list1.sou"
	      "rceforge.net) by sc8-sf-list2.sourceforge.net with esmtp (Exim 3.31-VA"
	      "-mm2 #1 (Debian)) id 18t301-0007Bh-00; Wed, 12 Mar 2003 01:58:13 -0800",
	  "[ ip=10.3.1.13 rdns=sc8-sf-list1-b.sourceforge.net helo=sc8-sf-list1.s"
	      "ourceforge.net by=sc8-sf-list2.sourceforge.net ident= envfrom= intl=1 "
	      "id=18t301-0007Bh-00 auth= msa=0 ]", 1 },
	{ "from sc8-sf-sshgate.sourceforge.net (HELO sc8-sf-netmisc.sourceforge.n"
	      "et) (66.35.250.220) by la.mx.develooper.com (qpsmtpd/0.27-dev) with ES"
	      "MTP; Fri, 02 Jan 2004 14:44:41 -0800",
	  "[ ip=66.35.250.220 rdns=sc8-sf-sshgate.sourceforge.net helo=sc8-sf-net"
	      "misc.sourceforge.net by=la.mx.develooper.com ident= envfrom= intl=0 id"
	      "= auth= msa=0 ]", 0 },
	{ "from scv3.apple.com (scv3.apple.com) by mailgate2.apple.com (Content T"
	      "echnologies SMTPRS 4.2.1) with ESMTP id <T61095998e1118164e13f8@mailga"
	      "te2.apple.com>; Mon, 17 Mar 2003 17:04:54 -0800",
	  "SKIP", 0 },
	{ "from senmail2.senate.gov with LMTP by senmail2 (3.0.2/sieved-3-0-build"
	      "-942) for <example@vandinter.org>; Fri, 30 Jun 2006 10:58:41 -0400",
	  "SKIP", 0 },
	{ "from server.yourhostingaccount.com with local  for example@vandinter.o"
	      "rg  id 1GDtdl-0002GU-QE (8710); Thu, 17 Aug 2006 21:59:17 -0400",
	  "SKIP", 0 },
	{ "from smarter (helo=localhost) by mx1-out.lists.smarterliving.com with "
	      "local-bsmtp (Exim 4.24) id 1GIRA2-0007IZ-4n for example@vandinter.org;"
	      " Wed, 30 Aug 2006 10:35:22 -0400",
	  "SKIP", 0 },
	{ "from umr-mail7.umr.edu (umr-mail7.umr.edu [131.151.1.64]) via ESMTP by"
	      " mrelay1.cc.umr.edu (8.12.1/) id h06GHYLZ022481; Mon, 6 Jan 2003 10:17"
	      ":34 -0600",
	  "[ ip=131.151.1.64 rdns=umr-mail7.umr.edu helo=umr-mail7.umr.edu by=mre"
	      "lay1.cc.umr.edu ident= envfrom= intl=0 id=h06GHYLZ022481 auth= msa=0 ]", 0 },
	{ "from unknown (HELO feux01a-isp) (213.199.4.210) by totor.bouissou.net "
	      "with SMTP; 1 Nov 2003 07:05:19 -0000 ",
	  "[ ip=213.199.4.210 rdns= helo=feux01a-isp by=totor.bouissou.net ident="
	      " envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from unknown (HELO terpsichore.farfalle.com) (jdavid@[216.254.40.70]) "
	      "(envelope-sender <jdavid@farfalle.com>) by mail13.speakeasy.net (qmail"
	      "-ldap-1.03) with SMTP for <jm@jmason.org>; 12 Feb 2003 18:23:19 -0000",
	  "[ ip=216.254.40.70 rdns= helo=terpsichore.farfalle.com by=mail13.speak"
	      "easy.net ident=jdavid envfrom=jdavid@farfalle.com intl=0 id= auth= msa"
	      "=0 ]", 0 },
	{ "from virtual-access.org by bolero.conactive.com ; Thu, 20 Feb 2003 23:"
	      "32:58 +0100",
	  "SKIP", 0 },
	{ "from www-data by wwwmail.documenta.de (Exim 4.50) with local for <exam"
	      "ple@vandinter.org> id 1GFbZc-0006QV-L8; Tue, 22 Aug 2006 21:06:04 +020"
	      "0",
	  "SKIP", 0 },
	{ "from x1-6-00-04-bd-d2-e0-a3.k317.webspeed.dk (benelli@80.167.158.170) "
	      "by totor.bouissou.net with SMTP; 5 Nov 2003 23:18:42 -0000",
	  "[ ip=80.167.158.170 rdns=x1-6-00-04-bd-d2-e0-a3.k317.webspeed.dk helo="
	      "x1-6-00-04-bd-d2-e0-a3.k317.webspeed.dk by=totor.bouissou.net ident=be"
	      "nelli envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from x71-x56-x24-5.webspeed.dk (HELO niels) (69.96.3.15) by la.mx.deve"
	      "looper.com (qpsmtpd/0.27-dev) with SMTP; Fri, 02 Jan 2004 19:26:52 -08"
	      "00",
	  "[ ip=69.96.3.15 rdns=x71-x56-x24-5.webspeed.dk helo=niels by=la.mx.dev"
	      "elooper.com ident= envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from zimbramail.artsit.org.uk (unverified) by MAILSWEEP.birminghamarts"
	      "it.org.uk (Clearswift SMTPRS 5.1.7) with ESMTP id <T78926b35f2c0a80003"
	      "da8@MAILSWEEP.birminghamartsit.org.uk> for <discuss@lists.surbl.org>; "
	      "Tue, 30 May 2006 15:56:15 +0100",
	  "SKIP", 0 },
	{ "from mail-wr1-f54.google.com (mail-wr1-f54.google.com [209.85.221.54])"
	      " by mx.example.net (Postfix) with ESMTPS id 4Q1xyz2Jk9z9sTV for <user@"
	      "example.net>; Mon, 12 Jun 2023 10:11:12 +0200 (CEST)",
	  "[ ip=209.85.221.54 rdns=mail-wr1-f54.google.com helo=mail-wr1-f54.goog"
	      "le.com by=mx.example.net ident= envfrom= intl=0 id=4Q1xyz2Jk9z9sTV aut"
	      "h= msa=0 ]", 0 },
	{ "from by2.example.org (unknown [203.0.113.9]) by mx.example.net (Postfi"
	      "x) with ESMTP id 1A2B3C4D5E for <user@example.net>; Mon, 12 Jun 2023 1"
	      "0:11:12 +0200 (CEST)",
	  "[ ip=203.0.113.9 rdns= helo=by2.example.org by=mx.example.net ident= e"
	      "nvfrom= intl=0 id=1A2B3C4D5E auth= msa=0 ]", 0 },
	{ "from [192.168.1.20] (dsl-203-0-113-45.example.com [203.0.113.45]) (Aut"
	      "henticated sender: alice@example.org) by smtp.example.org (Postfix) wi"
	      "th ESMTPSA id 4QABCDEF for <bob@example.net>; Mon, 12 Jun 2023 10:11:1"
	      "2 +0200 (CEST)",
	  "[ ip=203.0.113.45 rdns=dsl-203-0-113-45.example.com helo=!192.168.1.20"
	      "! by=smtp.example.org ident= envfrom= intl=1 id=4QABCDEF auth=ESMTPSA "
	      "msa=0 ]", 1 },
	{ "from mail.example.com ([198.51.100.7]) by mx.google.com with ESMTPS id"
	      " a1si123456wrb.12.2023.06.12.01.02.03 for <user@gmail.com> (version=TL"
	      "S1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256); Mon, 12 Jun 2023 01:"
	      "02:03 -0700 (PDT)",
	  "[ ip=198.51.100.7 rdns= helo=mail.example.com by=mx.google.com ident= "
	      "envfrom= intl=0 id=a1si123456wrb.12.2023.06.12.01.02.03 auth= msa=0 ]", 0 },
	{ "from EUR05-AM6-obe.outbound.protection.outlook.com (mail-am6eur05on209"
	      "0.outbound.protection.outlook.com [40.107.22.90]) by mx.example.net (P"
	      "ostfix) with ESMTPS id 4Q1 for <u@example.net>; Mon, 12 Jun 2023 10:11"
	      ":12 +0200",
	  "[ ip=40.107.22.90 rdns=mail-am6eur05on2090.outbound.protection.outlook"
	      ".com helo=EUR05-AM6-obe.outbound.protection.outlook.com by=mx.example."
	      "net ident= envfrom= intl=0 id=4Q1 auth= msa=0 ]", 0 },
	{ "from AM9PR07MB7148.eurprd07.prod.outlook.com (2603:10a6:20b:2c5::21) b"
	      "y DB9PR07MB8690.eurprd07.prod.outlook.com (2603:10a6:10:30b::9) with M"
	      "icrosoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_25"
	      "6_GCM_SHA384) id 15.20.6477.19; Mon, 12 Jun 2023 08:11:12 +0000",
	  "[ ip=2603:10a6:20b:2c5::21 rdns=AM9PR07MB7148.eurprd07.prod.outlook.co"
	      "m helo=AM9PR07MB7148.eurprd07.prod.outlook.com by=DB9PR07MB8690.eurprd"
	      "07.prod.outlook.com ident= envfrom= intl=0 id=15.20.6477.19 auth= msa="
	      "0 ]", 0 },
	{ "from host-1.example.org ([203.0.113.77] helo=client.example.org) by mx"
	      ".example.net with esmtps (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.9"
	      "6) (envelope-from <bounce@example.org>) id 1q8abc-000123-45 for user@e"
	      "xample.net; Mon, 12 Jun 2023 10:11:12 +0200",
	  "[ ip=203.0.113.77 rdns=host-1.example.org helo=client.example.org by=m"
	      "x.example.net ident= envfrom=bounce@example.org intl=0 id=1q8abc-00012"
	      "3-45 auth= msa=0 ]", 0 },
	{ "from [203.0.113.99] (helo=evil.example) by mx.example.net with smtp (E"
	      "xim 4.96) (envelope-from <x@y.example>) id 1q8abc-0001AB-CD; Mon, 12 J"
	      "un 2023 10:11:12 +0200",
	  "[ ip=203.0.113.99 rdns= helo=evil.example by=mx.example.net ident= env"
	      "from=x@y.example intl=0 id=1q8abc-0001AB-CD auth= msa=0 ]", 0 },
	{ "from client.example ([198.51.100.23]) by mx.example.net (facteur) with"
	      " ESMTP id 4F2A1B3C5D6E; Mon, 12 Jun 2023 10:11:12 +0200",
	  "[ ip=198.51.100.23 rdns= helo=client.example by=mx.example.net ident= "
	      "envfrom= intl=0 id=4F2A1B3C5D6E auth= msa=0 ]", 0 },
	{ "from client.example ([198.51.100.23]) by mx.example.net (facteur) with"
	      " ESMTPSA id 4F2A1B3C5D6E for <a@example.net>; Mon, 12 Jun 2023 10:11:1"
	      "2 +0200",
	  "[ ip=198.51.100.23 rdns= helo=client.example by=mx.example.net ident= "
	      "envfrom= intl=1 id=4F2A1B3C5D6E auth=ESMTPSA msa=0 ]", 1 },
	{ "from client.example (host.example.org [198.51.100.23]) by mx.example.n"
	      "et (facteur) with ESMTP id 4F2A1B3C5D6E; Mon, 12 Jun 2023 10:11:12 +02"
	      "00",
	  "[ ip=198.51.100.23 rdns=host.example.org helo=client.example by=mx.exa"
	      "mple.net ident= envfrom= intl=0 id=4F2A1B3C5D6E auth= msa=0 ]", 0 },
	{ "from client.example (unknown [198.51.100.23]) by mx.example.net (facte"
	      "ur) with ESMTP id 4F2A1B3C5D6E; Mon, 12 Jun 2023 10:11:12 +0200",
	  "[ ip=198.51.100.23 rdns= helo=client.example by=mx.example.net ident= "
	      "envfrom= intl=0 id=4F2A1B3C5D6E auth= msa=0 ]", 0 },
	{ "from [IPv6:2001:db8::5] ([2001:db8::5]) by mx.example.net (facteur) wi"
	      "th ESMTP id 4F2A1B3C5D6E; Mon, 12 Jun 2023 10:11:12 +0200",
	  "[ ip=2001:db8::5 rdns= helo=!IPv6:2001:db8::5! by=mx.example.net ident"
	      "= envfrom= intl=0 id=4F2A1B3C5D6E auth= msa=0 ]", 0 },
	{ "from localhost (localhost [127.0.0.1]) by mail.example.org (Postfix) w"
	      "ith ESMTP id 5A6B7C for <u@example.org>; Mon, 12 Jun 2023 10:11:12 +02"
	      "00",
	  "[ ip=127.0.0.1 rdns=localhost helo=localhost by=mail.example.org ident"
	      "= envfrom= intl=1 id=5A6B7C auth= msa=0 ]", 1 },
	{ "from mail.example.org ([10.0.0.5]) by mx1.example.org with Microsoft S"
	      "MTPSVC(6.0.3790.4675); Mon, 12 Jun 2023 10:11:12 +0200",
	  "[ ip=10.0.0.5 rdns= helo=mail.example.org by=mx1.example.org ident= en"
	      "vfrom= intl=1 id= auth= msa=0 ]", 1 },
	{ "from sonic301-21.consmr.mail.ne1.yahoo.com (sonic301-21.consmr.mail.ne"
	      "1.yahoo.com [66.163.184.190]) by mx.example.net (Postfix) with ESMTPS "
	      "id 4Q; Mon, 12 Jun 2023 10:11:12 +0200",
	  "[ ip=66.163.184.190 rdns=sonic301-21.consmr.mail.ne1.yahoo.com helo=so"
	      "nic301-21.consmr.mail.ne1.yahoo.com by=mx.example.net ident= envfrom= "
	      "intl=0 id= auth= msa=0 ]", 0 },
	{ "from [127.0.0.1] by smtp.example.com (qmail) with SMTP; 12 Jun 2023 10"
	      ":11:12 -0000",
	  "[ ip=127.0.0.1 rdns= helo= by=smtp.example.com ident= envfrom= intl=1 "
	      "id= auth= msa=0 ]", 1 },
	{ "by mail.example.org (Postfix, from userid 1000) id 4QABCD; Mon, 12 Jun"
	      " 2023 10:11:12 +0200 (CEST)",
	  "SKIP", 0 },
	{ "from unknown (HELO mail.example.com) (198.51.100.200) by smtp.example."
	      "net with SMTP; 12 Jun 2023 10:11:12 -0000",
	  "[ ip=198.51.100.200 rdns= helo=mail.example.com by=smtp.example.net id"
	      "ent= envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from dynamic-203-0-113-5.pool.example.net (HELO 203.0.113.5) (203.0.11"
	      "3.5) by mx.example.net with SMTP; 12 Jun 2023 10:11:12 -0000",
	  "[ ip=203.0.113.5 rdns=dynamic-203-0-113-5.pool.example.net helo=203.0."
	      "113.5 by=mx.example.net ident= envfrom= intl=0 id= auth= msa=0 ]", 0 },
	{ "from mx.hotmail.com (no.rdns.example [203.0.113.66]) by mx.example.net"
	      " (8.15.2/8.15.2) with ESMTP id 35CABC; Mon, 12 Jun 2023 10:11:12 +0200",
	  "[ ip=203.0.113.66 rdns=no.rdns.example helo=mx.hotmail.com by=mx.examp"
	      "le.net ident= envfrom= intl=0 id=35CABC auth= msa=0 ]", 0 },
	{ "from garbage without structure at all; Mon, 12 Jun 2023 10:11:12 +0200",
	  "UNPARSEABLE", 0 },
	{ "from x (y [1.2.3.4)) by",
	  "UNPARSEABLE", 0 },
	{ "from  ; ; ;",
	  "SKIP", 0 },
	{ "from [300.1.2.3] by nowhere",
	  "UNPARSEABLE", 0 },
	/* smtpd's own field as write_received() folds it, TLS comment included */
	{ "from client.example ([198.51.100.23])\r\n\tby mx.example.net (facteur) with ESMTPS id "
	      "4F2A1B3C5D6E\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n\tfor "
	      "<a@example.net>;\r\n\tTue, 01 Dec 2026 10:00:02 +0100\r\n",
	  "[ ip=198.51.100.23 rdns= helo=client.example by=mx.example.net ident= envfrom= intl=0 "
	      "id=4F2A1B3C5D6E auth= msa=0 ]", 0 },
	{ "from [192.0.2.7] ([192.0.2.7])\r\n\tby mx.example.net (facteur) with ESMTPSA id "
	      "4F2A1B3C5D6F\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384);\r\n\t"
	      "Tue, 01 Dec 2026 10:00:02 +0100\r\n",
	  "[ ip=192.0.2.7 rdns= helo=!192.0.2.7! by=mx.example.net ident= envfrom= intl=1 "
	      "id=4F2A1B3C5D6F auth=ESMTPSA msa=0 ]", 1 },
};

static void
one(const char *field, struct received_chain *ch)
{
	struct received_field f = { "Received", field, strlen(field) };

	received_parse(NULL, &f, 1, 0, ch);
}

static void
test_table(void **state)
{
	size_t bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct received_chain ch;
		char got[2048];

		one(rows[i].field, &ch);
		if (ch.num_unparseable > 0)
			snprintf(got, sizeof(got), "UNPARSEABLE");
		else if (ch.nrelays == 0)
			snprintf(got, sizeof(got), "SKIP");
		else
			snprintf(got, sizeof(got), "%s%s%s", ch.trusted_str,
			    ch.trusted_str[0] != '\0' && ch.untrusted_str[0] != '\0' ? " " : "",
			    ch.untrusted_str);
		if (strcmp(got, rows[i].expect) != 0 || ch.num_trusted != rows[i].trusted) {
			fprintf(stderr, "field:  %s\nexpect: %s (%zu trusted)\ngot:    %s (%zu)\n",
			    rows[i].field, rows[i].expect, rows[i].trusted, got, ch.num_trusted);
			bad++;
		}
		received_chain_clear(&ch);
	}
	assert_int_equal(bad, 0);
}

static const char *const chain1[] = {
	"Received", "from mx.example.net (mx.example.net [192.168.1.2]) by store.example.net "
	    "(Postfix) with ESMTP id AAA1; Mon, 12 Jun 2023 10:11:14 +0200",
	"Received", "from mail-out.example.org (mail-out.example.org [198.51.100.7])\r\n\tby "
	    "mx.example.net (Postfix) with ESMTPS id BBB2 for <u@example.net>; Mon, 12 Jun "
	    "2023 10:11:13 +0200",
	"Received", "from [10.1.2.3] (dyn-203-0-113-5.pool.example.com [203.0.113.5]) "
	    "(Authenticated sender: a@example.org) by mail-out.example.org (Postfix) with "
	    "ESMTPSA id CCC3; Mon, 12 Jun 2023 10:11:12 +0200",
	"Received", "garbage here",
	"X-Originating-IP", "[203.0.113.200]",
	"From", "a@example.org",
};

#define R_MX "[ ip=192.168.1.2 rdns=mx.example.net helo=mx.example.net by=store.example.net " \
	"ident= envfrom= intl=%d id=AAA1 auth= msa=0 ]"
#define R_OUT "[ ip=198.51.100.7 rdns=mail-out.example.org helo=mail-out.example.org " \
	"by=mx.example.net ident= envfrom= intl=0 id=BBB2 auth= msa=%d ]"
#define R_SUB "[ ip=203.0.113.5 rdns=dyn-203-0-113-5.pool.example.com helo=!10.1.2.3! " \
	"by=mail-out.example.org ident= envfrom= intl=0 id=CCC3 auth=ESMTPSA msa=0 ]"
#define R_ORIG "[ ip=203.0.113.200 rdns= helo= by= ident= envfrom= intl=0 id= auth= msa=0 ]"

static struct received_config *
config(const char *text)
{
	char path[] = "/tmp/facteur-test-received.XXXXXX";
	int fd = mkstemp(path);
	struct sa_rules *sa = sa_rules_new();
	struct received_config *c;
	const char *error;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(sa_rules_load_file(sa, path, &error), 0);
	sa_rules_finish(sa);
	c = received_config_new(sa);
	sa_rules_free(&sa);
	unlink(path);
	return c;
}

static void
fields(const char *const *v, size_t n, struct received_field *out)
{
	for (size_t i = 0; i < n; i++) {
		out[i].name = v[2 * i];
		out[i].value = v[2 * i + 1];
		out[i].value_len = strlen(v[2 * i + 1]);
	}
}

static void
test_chain_inferred(void **state)
{
	struct received_config *c = config("originating_ip_headers X-Originating-IP\n");
	struct received_field f[6];
	struct received_chain ch;
	char *want;

	(void)state;
	fields(chain1, 6, f);
	received_parse(c, f, 6, 0, &ch);
	want = xasprintf(R_MX, 1);
	assert_string_equal(ch.trusted_str, want);
	assert_string_equal(ch.internal_str, want);
	free(want);
	want = xasprintf(R_OUT " " R_SUB " " R_ORIG, 0);
	assert_string_equal(ch.untrusted_str, want);
	assert_string_equal(ch.external_str, want);
	free(want);
	assert_int_equal(ch.num_unparseable, 0);
	assert_int_equal(ch.last_trusted_relay_index, 0);
	assert_int_equal(ch.num_untrusted, 3);
	received_chain_clear(&ch);
	received_config_free(&c);
}

static void
test_chain_configured(void **state)
{
	struct received_config *c = config("originating_ip_headers X-Originating-IP\n"
	    "trusted_networks 192.168.1.0/24 198.51.100.0/24\n"
	    "internal_networks 192.168.1.0/24\nmsa_networks 198.51.100.7\n");
	struct received_field f[6];
	struct received_chain ch;
	char *want, *a, *b;

	(void)state;
	fields(chain1, 6, f);
	received_parse(c, f, 6, 0, &ch);
	a = xasprintf(R_MX, 1);
	b = xasprintf(R_OUT, 1);
	want = xasprintf("%s %s %s %s", a, b, R_SUB, R_ORIG);
	assert_string_equal(ch.trusted_str, want);
	assert_string_equal(ch.untrusted_str, "");
	assert_string_equal(ch.internal_str, a);
	free(want);
	want = xasprintf("%s %s %s", b, R_SUB, R_ORIG);
	assert_string_equal(ch.external_str, want);
	assert_int_equal(ch.last_trusted_relay_index, 4);
	assert_int_equal(ch.last_internal_relay_index, 0);
	free(want);
	free(a);
	free(b);
	received_chain_clear(&ch);
	received_config_free(&c);

	/* trusted_networks without the first hop: nothing is trusted */
	c = config("trusted_networks 198.51.100.0/24\n");
	received_parse(c, f, 6, 0, &ch);
	assert_string_equal(ch.trusted_str, "");
	assert_int_equal(ch.num_untrusted, 3);	/* no originating_ip_headers here */
	assert_int_equal(ch.last_trusted_relay_index, -1);
	received_chain_clear(&ch);
	received_config_free(&c);
}

static void
test_fetchmail_restart(void **state)
{
	static const char *const v[] = {
		"Received", "from localhost [127.0.0.1] by localhost with POP3 (fetchmail-6.4.37) "
		    "for <u@localhost> (single-drop); Mon, 12 Jun 2023 10:12:00 +0200",
		"Received", "from mx.example.net (mx.example.net [192.168.1.2]) by store.example.net "
		    "(Postfix) with ESMTP id AAA1; Mon, 12 Jun 2023 10:11:14 +0200",
		"Received", "from mail-out.example.org (mail-out.example.org [198.51.100.7]) by "
		    "mx.example.net (Postfix) with ESMTPS id BBB2 for <u@example.net>; Mon, 12 Jun "
		    "2023 10:11:13 +0200",
	};
	struct received_field f[3];
	struct received_chain ch;
	char *want;

	(void)state;
	fields(v, 3, f);
	received_parse(NULL, f, 3, 0, &ch);
	want = xasprintf(R_MX, 1);
	assert_string_equal(ch.trusted_str, want);
	free(want);
	want = xasprintf(R_OUT, 0);
	assert_string_equal(ch.untrusted_str, want);
	free(want);
	assert_int_equal(ch.last_trusted_relay_index, 1);
	received_chain_clear(&ch);
}

static void
test_hostile(void **state)
{
	struct received_chain ch;
	struct received_field *f;
	struct received_relay r;
	size_t n = 1 << 20;
	char *big = xmalloc(n + 1);

	(void)state;
	/* a megabyte of parentheses and brackets: bounded, no crash */
	for (size_t i = 0; i < n; i++)
		big[i] = "from (x [1.2.3.4] by ( helo= "[i % 29];
	big[n] = '\0';
	assert_true(received_parse_line(big, n, &r) >= -1);
	free(r.as_string);
	/* binary, NULs included */
	for (size_t i = 0; i < 4096; i++)
		big[i] = (char)(i * 7 + 13);
	memcpy(big, "from ", 5);
	assert_true(received_parse_line(big, 4096, &r) >= -1);
	free(r.as_string);
	/* truncated in the middle of a field */
	assert_int_equal(received_parse_line("from mail.example (mail.example [198.51.1",
	    41, &r), -1);
	assert_int_equal(received_parse_line("", 0, &r), 0);
	assert_int_equal(received_parse_line("from", 4, &r), 0);
	/* a relay field longer than the field buffers is cut, not overflowed */
	memset(big, 'a', 3000);
	memcpy(big, "from ", 5);
	memcpy(big + 3000, " ([198.51.100.1]) by mx.example (facteur) with ESMTP id Q", 57);
	assert_int_equal(received_parse_line(big, 3057, &r), 1);
	assert_int_equal(strlen(r.helo), RECEIVED_FIELD_MAX - 1);
	assert_string_equal(r.ip, "198.51.100.1");
	free(r.as_string);
	/* 1000 Received fields: RECEIVED_MAX of them are read */
	f = xcalloc(1000, sizeof(*f));
	for (size_t i = 0; i < 1000; i++) {
		f[i].name = "Received";
		f[i].value = "from a.example (a.example [10.0.0.1]) by b.example (Postfix) with "
		    "ESMTP id X; Mon, 12 Jun 2023 10:11:14 +0200";
		f[i].value_len = strlen(f[i].value);
	}
	received_parse(NULL, f, 1000, 0, &ch);
	assert_int_equal(ch.nrelays, RECEIVED_MAX);
	assert_int_equal(ch.num_trusted, RECEIVED_MAX);
	received_chain_clear(&ch);
	free(f);
	free(big);
}

static void
test_private(void **state)
{
	(void)state;
	assert_true(received_ip_private("10.1.2.3"));
	assert_true(received_ip_private("100.64.0.1"));
	assert_true(received_ip_private("fe80::1"));
	assert_true(received_ip_private("::1"));
	assert_false(received_ip_private("198.51.100.1"));
	assert_false(received_ip_private("100.128.0.1"));
	assert_false(received_ip_private("2001:db8::1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_chain_inferred),
		cmocka_unit_test(test_chain_configured),
		cmocka_unit_test(test_fetchmail_restart),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_private),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
