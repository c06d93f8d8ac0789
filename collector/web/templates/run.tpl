% rebase("base", title=title)
<h1>Run <code class="id">{{run.run_id}}</code></h1>
<dl class="facts">
  <div><dt>Status</dt><dd><span class="badge {{fmt.status_kind(run.status)}}">{{run.status}}</span></dd></div>
  <div><dt>Started</dt><dd>{{fmt.moment(run.started_at)}}</dd></div>
  <div><dt>Duration</dt><dd>{{fmt.duration(run.duration_ms)}}</dd></div>
  % if run.vcs.get("branch") is not None:
  <div><dt>Branch</dt><dd>{{run.vcs["branch"]}}</dd></div>
  % end
  % if run.vcs.get("commit") is not None:
  <div><dt>Commit</dt><dd><code>{{run.vcs["commit"]}}</code></dd></div>
  % end
  % if run.vcs.get("pull_request") is not None:
  <div><dt>Pull request</dt><dd>{{run.vcs["pull_request"]}}</dd></div>
  % end
  % if run.ci.get("job") is not None or run.ci.get("provider") is not None:
  <div><dt>CI job</dt><dd>
    % if job_url:
    <a href="{{job_url}}" rel="noopener noreferrer">{{" ".join(str(run.ci[k]) for k in ("provider", "job") if run.ci.get(k) is not None)}}</a>
    % else:
    {{" ".join(str(run.ci[k]) for k in ("provider", "job") if run.ci.get(k) is not None)}}
    % end
  </dd></div>
  % end
</dl>
<dl class="totals">
  <div><dt>Tests</dt><dd>{{fmt.count(run.counts.total)}}</dd></div>
  <div><dt>Passed</dt><dd>{{fmt.count(run.counts.passed)}}</dd></div>
  <div><dt>Failed</dt><dd>{{fmt.count(run.counts.failed)}}</dd></div>
  <div><dt>Errors</dt><dd>{{fmt.count(run.counts.error)}}</dd></div>
  <div><dt>Skipped</dt><dd>{{fmt.count(run.counts.skipped)}}</dd></div>
  <div><dt>Flaky</dt><dd>{{fmt.count(run.counts.flaky)}}</dd></div>
</dl>
% if verdict and verdict["failures"]:
<p class="verdict">{{fmt.count(verdict["failures"])}} {{"failure" if verdict["failures"] == 1 else "failures"}}, judged against <code>{{verdict["default_branch"]}}</code> when the run arrived: {{fmt.verdict_counts(verdict)}}{{" (the first " + fmt.count(len(verdict["tests"])) + " are marked below)" if verdict["truncated"] else ""}}.</p>
% end
<h2>Tests</h2>
% if tests:
<p class="note">Failures first, then flaky passes, then the rest{{", continued" if first_page else ""}}. Long messages are cut here; the API answers them in full: <code>GET {{api_url}}</code>.</p>
<div class="table-wrap">
<table class="tests">
  <thead>
    <tr><th scope="col">Status</th><th scope="col">Test</th><th scope="col" class="num">Duration</th>
    <th scope="col" class="num">Attempts</th><th scope="col">Message</th></tr>
  </thead>
  <tbody>
  % for test in tests:
  <tr>
    <td><span class="badge {{fmt.status_kind(test.status, test.flaky)}}">{{test.status}}{{" · flaky" if test.flaky else ""}}</span>
      % judgement = judged.get(test.id)
      % if judgement:
      <span class="badge verdict {{fmt.verdict_kind(judgement["class"])}}">{{fmt.verdict_label(judgement["class"], verdict["default_branch"])}}</span>
      % since = judgement.get("since")
      % if since:
      <span class="since">since <a href="{{fmt.run_href(since["run_id"])}}">{{fmt.moment(since["started_at"])}}</a></span>
      % end
      % end
    </td>
    <th scope="row" class="test"><a href="{{fmt.test_href(test.id)}}">{{test.name}}</a>
      % where = test.suite if test.suite and test.id == test.suite + "::" + test.name else test.id
      % if where != test.name:
      <span class="sub">{{where}}</span>
      % end
    </th>
    <td class="num">{{fmt.duration(test.duration_ms)}}</td>
    <td class="num">{{test.attempts}}</td>
    <td class="message">
      % if test.message or test.details:
      <details>
        <summary>{{fmt.first_line(test.message or test.details)}}</summary>
        % if test.message and test.message not in (test.details or ""):
        <pre>{{fmt.clip(test.message, fmt.MESSAGE_SHOWN)}}</pre>
        % end
        % if test.details:
        <pre>{{fmt.clip(test.details, fmt.DETAILS_SHOWN)}}</pre>
        % end
      </details>
      % end
    </td>
  </tr>
  % end
  </tbody>
</table>
</div>
% if next_page or first_page:
<nav class="pager" aria-label="Pages of tests">
  % if first_page:
  <a href="{{first_page}}">← First page</a>
  % end
  % if next_page:
  <a href="{{next_page}}" rel="next">Next page →</a>
  % end
</nav>
% end
% elif first_page:
<p class="empty">No more tests. <a href="{{first_page}}">← First page</a></p>
% else:
<p class="empty">This run reported no tests.</p>
% end
