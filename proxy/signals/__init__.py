"""The reservation on every answer: response headers, HTML meta tags, the merged
robots.txt and the documents served at well-known paths."""
