package fixture

import _ "sync" //detlint:allow sync testdata is skipped
