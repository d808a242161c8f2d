// TlsCheck: connect to a TLS server as a Java webhook sender does (the JDK's default
// SSLContext and PKIX trust manager, no AIA fetching, no client certificate), verify
// the chain against the given PEM roots and the host name (HTTPS endpoint
// identification), then wait briefly for what the server sends after the handshake
// (a TLS 1.3 server's certificate_required alert arrives then).
// Prints "OK <protocol> <cipher suite>" or "FAIL <exception>".
//
// Usage: java TlsCheck.java HOST PORT SERVER_NAME ROOTS_PEM
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

public class TlsCheck {
    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: TlsCheck HOST PORT SERVER_NAME ROOTS_PEM");
            System.exit(2);
        }
        KeyStore roots = KeyStore.getInstance(KeyStore.getDefaultType());
        roots.load(null, null);
        try (InputStream in = new FileInputStream(args[3])) {
            int index = 0;
            for (Certificate cert : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                roots.setCertificateEntry("root" + index++, cert);
            }
        }
        TrustManagerFactory factory =
                TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(roots);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, factory.getTrustManagers(), null);
        try (Socket raw = new Socket()) {
            raw.connect(new InetSocketAddress(args[0], Integer.parseInt(args[1])), 10000);
            raw.setSoTimeout(10000);
            SSLSocket socket = (SSLSocket) context.getSocketFactory()
                    .createSocket(raw, args[2], Integer.parseInt(args[1]), true);
            SSLParameters parameters = socket.getSSLParameters();
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            socket.setSSLParameters(parameters);
            socket.startHandshake();
            String protocol = socket.getSession().getProtocol();
            String suite = socket.getSession().getCipherSuite();
            socket.setSoTimeout(400);
            try {
                socket.getInputStream().read();
            } catch (SocketTimeoutException expected) {
                // Nothing after the handshake: the server accepted this client.
            }
            System.out.println("OK " + protocol + " " + suite);
        } catch (Exception error) {
            System.out.println("FAIL " + error);
            System.exit(1);
        }
    }
}
