% rebase("base", title=title)
<h1>{{entries[0].name if entries else test_id}}</h1>
<p class="test-id"><code class="id">{{test_id}}</code></p>
<section class="quarantine-state" aria-labelledby="quarantine-heading">
<h2 id="quarantine-heading">Quarantine</h2>
% if quarantined:
<p class="verdict"><span class="badge quarantined">quarantined</span> by {{quarantined.added_by}} since {{fmt.moment(quarantined.added_at)}}{{", until " + fmt.moment(quarantined.expires_at) if quarantined.expires_at else ""}}{{" (automatic)" if quarantined.source == "auto" else ""}}: {{quarantined.reason}}</p>
% if can_triage:
<form method="post" action="/ui/quarantine/release" class="quarantine">
  <input type="hidden" name="test_id" value="{{test_id}}">
  <input type="hidden" name="next" value="{{here}}">
  <button type="submit">Release from quarantine</button>
</form>
% end
% else:
<p>Not quarantined: its failures block.</p>
% if can_triage:
<form method="post" action="/ui/quarantine/add" class="quarantine">
  <input type="hidden" name="test_id" value="{{test_id}}">
  <div class="field">
    <label for="reason">Reason</label>
    <input id="reason" name="reason" type="text" maxlength="1000" required placeholder="an issue link, the flake seen...">
  </div>
  <div class="field">
    <label for="expires">Until (optional)</label>
    <input id="expires" name="expires" type="date">
  </div>
  <button type="submit">Quarantine</button>
</form>
% end
% end
% if trail:
<details class="trail">
  <summary>Changes to its quarantine ({{len(trail)}})</summary>
  <ol>
  % for event in trail:
  <li>{{fmt.moment(event.at)}}: {{fmt.quarantine_action(event.action)}} by {{event.actor}}{{" (automatic)" if event.source == "auto" and event.actor != "auto" else ""}}{{": " + event.reason if event.reason else ""}}{{", until " + fmt.moment(event.expires_at) if event.action == "add" and event.expires_at else ""}}</li>
  % end
  </ol>
</details>
% end
</section>
<div class="charts">
% include("chart", chart=strip)
% include("chart", chart=durations)
</div>
<h2>History</h2>
% if entries:
<div class="table-wrap">
<table class="history">
  <thead>
    <tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col" class="num">Duration</th>
    <th scope="col" class="num">Attempts</th><th scope="col">Branch</th><th scope="col">Commit</th>
    <th scope="col">Message</th></tr>
  </thead>
  <tbody>
  % for entry in entries:
  <tr>
    <th scope="row" class="nowrap"><a href="{{fmt.run_href(entry.run_id)}}" title="{{entry.run_id}}">{{fmt.moment(entry.started_at)}}</a></th>
    <td><span class="badge {{fmt.status_kind(entry.status, entry.flaky)}}">{{entry.status}}{{" · flaky" if entry.flaky else ""}}</span></td>
    <td class="num">{{fmt.duration(entry.duration_ms)}}</td>
    <td class="num">{{entry.attempts}}</td>
    <td>{{entry.branch or ""}}</td>
    <td><code>{{fmt.short_commit(entry.commit)}}</code></td>
    <td class="message">
      % if entry.message:
      <details><summary>{{fmt.first_line(entry.message, 80)}}</summary><pre>{{entry.message}}</pre></details>
      % end
    </td>
  </tr>
  % end
  </tbody>
</table>
</div>
% else:
<p class="empty">No older results.</p>
% end
<nav class="pager" aria-label="Pages of results">
% if newest:
<a href="{{newest}}">← Newest</a>
% end
% if older:
<a href="{{older}}" rel="next">Older →</a>
% end
</nav>
