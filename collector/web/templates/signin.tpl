% rebase("base", title=title)
<section class="signin">
<h1>Sign in</h1>
% if notice:
<p class="notice" role="status">{{notice}}</p>
% end
% if error:
<p class="error" role="alert">{{error}}</p>
% end
<form method="post" action="/ui/signin">
  <div class="field">
    <label for="token">Read token</label>
    <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
  </div>
  <input type="hidden" name="next" value="{{next}}">
  <button type="submit">Sign in</button>
</form>
<p class="help">Paste a token with the <code>read</code> scope of your project (or <code>triage</code>, which also quarantines tests), made with
<code>testrun-admin token create ORG/PROJECT --scope read</code>. The token is never shown again, and
not kept in this browser: it gets a session cookie that ends when you sign out, when the token is revoked,
or after a while without use.</p>
</section>
