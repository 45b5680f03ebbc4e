package live

import _ "sync" //detlint:allow sync core/live is not checked
