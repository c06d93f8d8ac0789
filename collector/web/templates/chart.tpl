<figure class="chart">
  <figcaption>{{chart.title}}</figcaption>
  <svg viewBox="0 0 {{chart.width}} {{chart.height}}" role="img" aria-label="{{chart.title}}: {{chart.summary}}" xmlns="http://www.w3.org/2000/svg">
    <title>{{chart.title}}</title>
    <desc>{{chart.summary}}</desc>
    % for tick in chart.y_ticks:
    <line class="grid" x1="{{chart.plot_left}}" x2="{{chart.plot_right}}" y1="{{tick.at}}" y2="{{tick.at}}"/>
    <text class="tick" x="{{chart.plot_left - 6}}" y="{{tick.at + 4}}" text-anchor="end">{{tick.label}}</text>
    % end
    % for tick in chart.x_ticks:
    <text class="tick" x="{{tick.at}}" y="{{chart.height - 6}}" text-anchor="middle">{{tick.label}}</text>
    % end
    % for mark in chart.marks:
    % if mark.href:
    <a href="{{mark.href}}"><rect class="mark {{mark.kind}}" x="{{mark.x}}" y="{{mark.y}}" width="{{mark.width}}" height="{{mark.height}}"><title>{{mark.title}}</title></rect></a>
    % else:
    <rect class="mark {{mark.kind}}" x="{{mark.x}}" y="{{mark.y}}" width="{{mark.width}}" height="{{mark.height}}"><title>{{mark.title}}</title></rect>
    % end
    % end
    % for points in chart.lines:
    <polyline class="line" points="{{points}}"/>
    % end
    % for dot in chart.dots:
    <circle class="dot" cx="{{dot.x}}" cy="{{dot.y}}" r="3.5"><title>{{dot.title}}</title></circle>
    % end
  </svg>
  % if chart.legend:
  <ul class="legend">
    % for kind, label in chart.legend:
    <li><span class="swatch {{kind}}"></span>{{label}}</li>
    % end
  </ul>
  % end
</figure>
