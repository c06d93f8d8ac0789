% rebase("base", title=title)
<h1>{{title}}</h1>
<p class="message">{{message}}</p>
<p class="sub">HTTP {{status}}{{" · request id " + request_id if request_id else ""}}</p>
% if project is None and status in (401, 403):
<p><a href="/ui/signin">Sign in</a></p>
% else:
<p><a href="/ui/">Back to the overview</a></p>
% end
