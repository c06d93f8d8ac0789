<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · testrun</title>
<link rel="stylesheet" href="/ui/static/style.css">
<link rel="icon" href="data:,">
</head>
<body>
<header class="top">
  <div class="bar">
    <a class="brand" href="/ui/">testrun</a>
    % if project is not None:
    <span class="project" title="Signed-in project">{{project.slug}}</span>
    <form class="signout" method="post" action="/ui/signout">
      <button type="submit">Sign out</button>
    </form>
    % end
  </div>
  % if project is not None:
  <nav aria-label="Pages">
    <ul>
      % for key, label, href in fmt.nav(get("window")):
      % if key == section:
      <li><a href="{{href}}" aria-current="page">{{label}}</a></li>
      % else:
      <li><a href="{{href}}">{{label}}</a></li>
      % end
      % end
    </ul>
  </nav>
  % end
</header>
<main>
{{!base}}
</main>
</body>
</html>
