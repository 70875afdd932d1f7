<?xml version="1.0" encoding="UTF-8"?>
<!-- SPDX-License-Identifier: Apache-2.0 -->
<!-- report.html from evidence.xml, for every framework (SOC 2, GDPR,
     ISO 27001): XSLT 1.0 for libxslt. Self-contained: inline CSS, inline
     SVG charts, no script, nothing fetched. The SVG is written without a
     namespace on purpose: the output is HTML, whose parser makes <svg> and
     everything inside it SVG by itself, while prefixed svg:rect elements
     would be unknown HTML elements and draw nothing (tests/report-html.sh
     opens the page in Chromium and checks the charts have a size). -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:e="urn:latchkey:evidence:1"
                exclude-result-prefixes="e">
  <xsl:output method="html" encoding="UTF-8" indent="yes"
              doctype-system="about:legacy-compat"/>

  <xsl:template match="/e:evidence">
    <html lang="en">
      <head>
        <meta charset="UTF-8"/>
        <title><xsl:value-of select="e:cover/e:title"/>,
          <xsl:value-of select="e:cover/e:period/@from"/> to
          <xsl:value-of select="e:cover/e:period/@to"/></title>
        <style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #345; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #bbb; padding: .2em .5em; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #eef; overflow-wrap: normal; white-space: nowrap; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre, code { font: 12px/1.35 ui-monospace, monospace; background: #f5f5f5; }
pre { padding: .5em; white-space: pre-wrap; }
.outcome { font-weight: bold; padding: .1em .4em; border-radius: .3em; }
.not-occurring { background: #e8e8e8; } .information { background: #e4eefa; }
.exceptions { background: #f8d7d7; color: #700; }
.intact { color: #060; font-weight: bold; } .broken { color: #a00; font-weight: bold; }
.method { color: #444; font-style: italic; }
.omitted { color: #444; font-weight: bold; }
.unstated { color: #a00; font-style: italic; }
svg text { font-family: system-ui, sans-serif; }
        </style>
      </head>
      <body>
        <xsl:apply-templates select="e:cover"/>
        <xsl:apply-templates select="e:matrix"/>
        <h2>Tests at a glance</h2>
        <table>
          <tr><th>Criterion</th><th>Test</th><th>Population</th><th>Exceptions</th><th>Outcome</th></tr>
          <xsl:for-each select="e:criterion/e:test">
            <tr>
              <td><xsl:value-of select="../@id"/></td>
              <td><a href="#{@id}"><xsl:value-of select="@title"/></a></td>
              <td class="n"><xsl:value-of select="e:result/@population"/></td>
              <td class="n"><xsl:value-of select="e:result/@exceptions"/></td>
              <td><xsl:apply-templates select="e:result" mode="badge"/></td>
            </tr>
          </xsl:for-each>
        </table>
        <xsl:apply-templates select="e:system"/>
        <xsl:apply-templates select="e:record"/>
        <xsl:apply-templates select="e:integrity"/>
        <xsl:apply-templates select="e:activity"/>
        <xsl:apply-templates select="e:criterion"/>
        <xsl:apply-templates select="e:exceptions"/>
        <xsl:apply-templates select="e:queries"/>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="e:cover">
    <h1><xsl:value-of select="e:title"/></h1>
    <table>
      <tr><th>Period</th><td><xsl:value-of select="e:period/@from"/> to
        <xsl:value-of select="e:period/@to"/> (end exclusive)</td></tr>
      <tr><th>Scope</th><td><xsl:value-of select="e:scope"/></td></tr>
      <tr><th>Generator</th><td><xsl:value-of select="e:generator/@name"/><xsl:text> </xsl:text>
        <xsl:value-of select="e:generator/@version"/>, generated
        <xsl:value-of select="e:generator/@generated"/></td></tr>
      <tr><th>Signer</th><td><xsl:value-of select="e:signer/@algorithm"/> key id
        <code><xsl:value-of select="e:signer/@key-id"/></code>
        (<xsl:value-of select="e:signer/@public-key"/>)</td></tr>
      <tr><th>Checkpoint</th><td>number <xsl:value-of select="e:checkpoint/@number"/>, signed
        <xsl:value-of select="e:checkpoint/@time"/> over audit seq
        <xsl:value-of select="e:checkpoint/@audit-seq"/></td></tr>
    </table>
    <h3>How to verify this pack</h3>
    <pre><xsl:for-each select="e:verify/e:command"><xsl:value-of select="."/>
<xsl:text>&#10;</xsl:text></xsl:for-each></pre>
  </xsl:template>

  <xsl:template match="e:integrity">
    <h2>Completeness and integrity</h2>
    <p>Audit chain:
      <span class="{e:chain/@result}"><xsl:value-of select="e:chain/@result"/></span>
      (<xsl:value-of select="e:chain/@rows"/> rows checked, head seq
      <xsl:value-of select="e:chain/@head-seq"/>,
      <xsl:value-of select="e:chain/@checkpoints-verified"/> signed checkpoints verified)
      <xsl:value-of select="e:chain"/></p>
    <p>Rows in the period: <xsl:value-of select="e:sequence/@rows"/>, seq
      <xsl:value-of select="e:sequence/@first"/> to <xsl:value-of select="e:sequence/@last"/>,
      rows in that range timed outside the period (the clock stepped back):
      <xsl:value-of select="e:sequence/@interleaved"/>.</p>
    <h3>Checkpoints signed in the period</h3>
    <xsl:apply-templates select="e:checkpoints" mode="rows"/>
    <h3>Rows by action</h3>
    <xsl:apply-templates select="e:row-counts" mode="rows"/>
  </xsl:template>

  <xsl:template match="e:queries">
    <h2>Queries used</h2>
    <p>Every population above is the result of one of these, run in one read
      transaction; ?1 is the period's start and ?2 its end, in Unix seconds.
      Re-run them with sqlite3 against the same database.</p>
    <table>
      <xsl:for-each select="e:query">
        <tr id="q-{@id}"><th><xsl:value-of select="@id"/></th><td><code><xsl:value-of select="."/></code></td></tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <!-- The control matrix: each control, how Latchkey operates it, and the
       outcome of each test that gives evidence of it. -->
  <xsl:key name="test" match="e:test" use="@id"/>
  <xsl:template match="e:matrix">
    <h2>Control matrix</h2>
    <table>
      <tr><th>Control</th><th>How it operates</th><th>Evidence (tests)</th></tr>
      <xsl:for-each select="e:control">
        <tr>
          <td><b><xsl:value-of select="@id"/></b><br/><xsl:value-of select="@title"/></td>
          <td><xsl:value-of select="e:activity"/></td>
          <td>
            <xsl:for-each select="e:covered-by">
              <xsl:variable name="t" select="key('test', @test)"/>
              <a href="#{@test}"><xsl:value-of select="$t/@title"/></a>:
              <xsl:apply-templates select="$t/e:result" mode="badge"/><br/>
            </xsl:for-each>
            <xsl:if test="not(e:covered-by)">procedural: no population in the log</xsl:if>
          </td>
        </tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template match="e:system">
    <h2>System description</h2>
    <xsl:for-each select="e:description"><p><xsl:value-of select="."/></p></xsl:for-each>
    <h3>Services and the policies that decide them</h3>
    <xsl:apply-templates select="e:services" mode="rows"/>
    <h3>Plugin builds that made decisions</h3>
    <xsl:apply-templates select="e:plugins" mode="rows"/>
  </xsl:template>

  <xsl:template match="e:record">
    <h2>Record of processing activities (GDPR Art. 30)</h2>
    <table>
      <xsl:for-each select="e:field">
        <tr><th><xsl:value-of select="@name"/>
            <xsl:if test="@article"> (<xsl:value-of select="@article"/>)</xsl:if></th>
          <td>
            <xsl:choose>
              <xsl:when test="@stated = 'true'"><xsl:value-of select="."/></xsl:when>
              <xsl:otherwise><span class="unstated"><xsl:value-of select="."/></span></xsl:otherwise>
            </xsl:choose>
          </td></tr>
      </xsl:for-each>
    </table>
    <h3>Categories of personal data</h3>
    <xsl:apply-templates select="e:categories" mode="rows"/>
  </xsl:template>

  <!-- Decisions per day by result: stacked bars, scaled to the busiest day. -->
  <xsl:template match="e:activity">
    <h2>Decisions per day</h2>
    <xsl:variable name="max">
      <xsl:for-each select="e:day">
        <xsl:sort select="@allowed + @denied" data-type="number" order="descending"/>
        <xsl:if test="position() = 1"><xsl:value-of select="@allowed + @denied"/></xsl:if>
      </xsl:for-each>
    </xsl:variable>
    <xsl:variable name="n" select="count(e:day)"/>
    <xsl:choose>
      <xsl:when test="$n = 0"><p>No decisions in the period: not occurring.</p></xsl:when>
      <xsl:otherwise>
        <!-- At most 40 px a day: a short period is a few bars, not a wall. -->
        <xsl:variable name="bw">
          <xsl:choose>
            <xsl:when test="$n &lt; 15">40</xsl:when>
            <xsl:otherwise><xsl:value-of select="floor(600 div $n)"/></xsl:otherwise>
          </xsl:choose>
        </xsl:variable>
        <!-- Wide enough for the legend, however few the days. -->
        <xsl:variable name="w">
          <xsl:choose>
            <xsl:when test="$n * $bw + 60 &lt; 240">240</xsl:when>
            <xsl:otherwise><xsl:value-of select="$n * $bw + 60"/></xsl:otherwise>
          </xsl:choose>
        </xsl:variable>
        <svg width="{$w}" height="240" role="img"
                 aria-label="Decisions per day by result">
          <text x="0" y="12" font-size="11"><xsl:value-of select="$max"/></text>
          <line x1="40" y1="10" x2="40" y2="200" stroke="#333"/>
          <line x1="40" y1="200" x2="{$n * $bw + 50}" y2="200" stroke="#333"/>
          <xsl:for-each select="e:day">
            <xsl:variable name="x" select="45 + (position() - 1) * $bw"/>
            <xsl:variable name="ha" select="190 * @allowed div $max"/>
            <xsl:variable name="hd" select="190 * @denied div $max"/>
            <rect x="{$x}" y="{200 - $ha}" width="{$bw - 2}" height="{$ha}" fill="#3a7">
              <title><xsl:value-of select="@date"/>: <xsl:value-of select="@allowed"/> allowed</title>
            </rect>
            <rect x="{$x}" y="{200 - $ha - $hd}" width="{$bw - 2}" height="{$hd}" fill="#c44">
              <title><xsl:value-of select="@date"/>: <xsl:value-of select="@denied"/> denied</title>
            </rect>
            <xsl:if test="position() = 1 or position() = last()">
              <text x="{$x}" y="215" font-size="10"><xsl:value-of select="@date"/></text>
            </xsl:if>
          </xsl:for-each>
          <rect x="45" y="225" width="10" height="10" fill="#3a7"/>
          <text x="60" y="234" font-size="11">allowed</text>
          <rect x="120" y="225" width="10" height="10" fill="#c44"/>
          <text x="135" y="234" font-size="11">denied</text>
        </svg>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="e:criterion">
    <h2><xsl:value-of select="@id"/>: <xsl:value-of select="@title"/></h2>
    <xsl:for-each select="e:test">
      <h3 id="{@id}"><xsl:value-of select="@title"/></h3>
      <p class="method"><xsl:value-of select="e:method"/>
        <xsl:if test="@query"> Query: <code><xsl:value-of select="@query"/></code>.</xsl:if></p>
      <xsl:if test="e:service">
        <xsl:apply-templates select="." mode="mfa-chart"/>
        <table>
          <tr><th>Service</th><th>Successes</th><th>Multi-factor</th><th>Single factor</th></tr>
          <xsl:for-each select="e:service">
            <tr><td><xsl:value-of select="@name"/></td>
              <td class="n"><xsl:value-of select="@successes"/></td>
              <td class="n"><xsl:value-of select="@multi-factor"/></td>
              <td class="n"><xsl:value-of select="@single-factor"/></td></tr>
          </xsl:for-each>
        </table>
      </xsl:if>
      <xsl:if test="e:bucket">
        <xsl:apply-templates select="." mode="bucket-chart"/>
      </xsl:if>
      <xsl:apply-templates select="." mode="rows"/>
    </xsl:for-each>
  </xsl:template>

  <!-- MFA coverage per service: the share of successes with two or more
       factors, one horizontal bar per service. -->
  <xsl:template match="e:test" mode="mfa-chart">
    <xsl:variable name="n" select="count(e:service)"/>
    <svg width="640" height="{$n * 26 + 30}" role="img" aria-label="MFA coverage per service">
      <text x="0" y="14" font-size="11">multi-factor share of successful decisions</text>
      <xsl:for-each select="e:service">
        <xsl:variable name="y" select="22 + (position() - 1) * 26"/>
        <xsl:variable name="pct">
          <xsl:choose>
            <xsl:when test="@successes &gt; 0"><xsl:value-of select="round(100 * @multi-factor div @successes)"/></xsl:when>
            <xsl:otherwise>0</xsl:otherwise>
          </xsl:choose>
        </xsl:variable>
        <text x="0" y="{$y + 15}" font-size="11"><xsl:value-of select="substring(@name, 1, 20)"/></text>
        <rect x="150" y="{$y}" width="400" height="20" fill="#f0d0d0"/>
        <rect x="150" y="{$y}" width="{4 * $pct}" height="20" fill="#3a7">
          <title><xsl:value-of select="@name"/>: <xsl:value-of select="@multi-factor"/> of
            <xsl:value-of select="@successes"/> successes multi-factor</title>
        </rect>
        <text x="558" y="{$y + 15}" font-size="11"><xsl:value-of select="$pct"/>%</text>
      </xsl:for-each>
    </svg>
  </xsl:template>

  <!-- A distribution (key ages): vertical bars, scaled to the largest. -->
  <xsl:template match="e:test" mode="bucket-chart">
    <xsl:variable name="max">
      <xsl:for-each select="e:bucket">
        <xsl:sort select="@count" data-type="number" order="descending"/>
        <xsl:if test="position() = 1"><xsl:value-of select="@count"/></xsl:if>
      </xsl:for-each>
    </xsl:variable>
    <xsl:variable name="n" select="count(e:bucket)"/>
    <svg width="{$n * 80 + 50}" height="200" role="img" aria-label="{@title}">
      <line x1="40" y1="160" x2="{$n * 80 + 45}" y2="160" stroke="#333"/>
      <xsl:for-each select="e:bucket">
        <xsl:variable name="x" select="45 + (position() - 1) * 80"/>
        <xsl:variable name="h">
          <xsl:choose>
            <xsl:when test="$max &gt; 0"><xsl:value-of select="140 * @count div $max"/></xsl:when>
            <xsl:otherwise>0</xsl:otherwise>
          </xsl:choose>
        </xsl:variable>
        <rect x="{$x}" y="{160 - $h}" width="70" height="{$h}" fill="#47a">
          <title><xsl:value-of select="@label"/>: <xsl:value-of select="@count"/></title>
        </rect>
        <text x="{$x + 35}" y="{155 - $h}" font-size="11" text-anchor="middle"><xsl:value-of select="@count"/></text>
        <text x="{$x + 35}" y="176" font-size="11" text-anchor="middle"><xsl:value-of select="@label"/></text>
      </xsl:for-each>
    </svg>
  </xsl:template>

  <!-- A population: its rows (the union of their attributes as columns),
       then its result. The document rendered keeps the first rows of a
       long population and counts the rest in @rows-omitted (soc2.c,
       read_pruned); evidence.xml itself lists them all. -->
  <xsl:template match="*" mode="rows">
    <xsl:variable name="rows" select="e:row"/>
    <xsl:if test="$rows">
      <table>
        <tr>
          <xsl:for-each select="$rows[1]/@*"><th><xsl:value-of select="name()"/></th></xsl:for-each>
        </tr>
        <xsl:for-each select="$rows">
          <tr><xsl:for-each select="@*"><td><xsl:value-of select="."/></td></xsl:for-each></tr>
        </xsl:for-each>
      </table>
      <xsl:if test="@rows-omitted">
        <p class="omitted">First <xsl:value-of select="count($rows)"/> of
          <xsl:value-of select="count($rows) + @rows-omitted"/> rows shown; every row
          is in evidence.xml, and every decision in decisions.csv.</p>
      </xsl:if>
    </xsl:if>
    <p>Population: <xsl:value-of select="e:result/@population"/>; exceptions:
      <xsl:value-of select="e:result/@exceptions"/>;
      <xsl:apply-templates select="e:result" mode="badge"/>
      <xsl:text> </xsl:text><xsl:value-of select="e:result"/></p>
  </xsl:template>

  <xsl:template match="e:result" mode="badge">
    <span class="outcome {translate(@outcome, ' ', '-')}"><xsl:value-of select="@outcome"/></span>
  </xsl:template>

  <xsl:template match="e:exceptions">
    <h2>Exceptions register</h2>
    <xsl:choose>
      <xsl:when test="e:exception">
        <table>
          <tr><th>Test</th><th>Exceptions</th></tr>
          <xsl:for-each select="e:exception">
            <tr><td><a href="#{@test}"><xsl:value-of select="@test"/></a></td>
              <td class="n"><xsl:value-of select="@count"/></td></tr>
          </xsl:for-each>
        </table>
      </xsl:when>
      <xsl:otherwise><p>No exceptions: not occurring.</p></xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
