<form class="filters" method="get" action="{{action}}">
  <div class="field">
    <label for="days">Days</label>
    <input id="days" name="days" type="number" min="1" max="3660" inputmode="numeric" value="{{window.days}}">
  </div>
  <div class="field">
    <label for="branch">Branch</label>
    <input id="branch" name="branch" type="text" value="{{window.branch or ''}}" placeholder="all branches">
  </div>
  <button type="submit">Show</button>
</form>
<p class="window">{{window.first_day}} to {{window.today.isoformat()}} (UTC days), {{"branch " + window.branch if window.branch else "all branches"}}</p>
