<th scope="row" class="test"><a href="{{fmt.test_href(row.test_id)}}">{{row.name}}</a>
% if row.suite:
<span class="sub">{{row.suite}}</span>
% end
</th>
